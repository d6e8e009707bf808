"""Publishing a run (DESIGN §1, §4, §7): commits, push, and one pull request or issue per task."""
