#!/bin/sh
# Make a git repository from examples/todo with a short history of approvals, for `speckitd scan`.
# Usage: examples/make-sample-repo.sh DIR
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/todo" && pwd)
dest=$1
[ ! -e "$dest" ] || { echo "$dest exists; choose a new folder" >&2; exit 2; }
mkdir -p "$dest"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
commit() { name=$1; email=$2; shift 2
  git -C "$dest" add -A
  GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email \
    git -C "$dest" commit -q --allow-empty "$@"; }
git -C "$dest" init -q -b main
cp "$src"/speckit.* "$dest"/
# 1. The specs arrive with no approvals yet.
sed -e 's/ \[approved\]//' -e 's/ \[hold\]//' "$src/speckit.tasks" > "$dest/speckit.tasks"
commit "Alice Approver" alice@example.com -m "Add the Todo API specs"
# 2. Bob, who is not an approver, marks T-003 approved: ignored when approvers are configured.
sed -i 's/T-003 \[P\]/T-003 [P] [approved]/' "$dest/speckit.tasks"
commit "Bob Builder" bob@example.com -m "I think T-003 is ready"
# 3. Alice approves T-002 with a marker and holds T-005.
sed -i -e 's/T-002 Define/T-002 [approved] Define/' -e 's/T-005 \[US2\]/T-005 [US2] [hold]/' "$dest/speckit.tasks"
commit "Alice Approver" alice@example.com -m "Approve T-002, hold T-005"
# 4. Alice approves T-004 with a trailer; it waits for T-002 and T-003 to be done.
commit "Alice Approver" alice@example.com -m "Approve the create route" -m "Approved-Tasks: T-004"
echo "made $dest; try: speckitd scan --repo $dest"
