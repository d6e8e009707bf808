export default function Page() {
  return <main>Todo</main>;
}
