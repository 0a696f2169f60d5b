#!/usr/bin/env bash
# Build a small git + DVC project in DIR whose pipeline records its data, model and
# evaluation with ledger, from code, in two iterations (docs/tracking-example.md):
#
#   bash examples/tracking/run.sh DIR      # DIR: a new or empty folder
#
# ledger, dvc, git and python are taken from PATH (activate ledger's environment first).
# Nothing touches the network, and every run builds the same history.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: bash examples/tracking/run.sh DIR (a new or empty folder)" >&2
  exit 2
fi
dir=$1
if [ -e "$dir" ] && { [ ! -d "$dir" ] || [ -n "$(ls -A "$dir")" ]; }; then
  echo "run.sh: $dir is not empty; give a new or empty folder" >&2
  exit 2
fi
for tool in git dvc ledger python; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool is not on PATH; activate the environment ledger is installed in" >&2
    exit 2
  fi
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir"
cd "$dir"

export DVC_NO_ANALYTICS=1
# The example's commits are made by the identity configured below, at fixed dates.
unset GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
commits=0
commit() {
  commits=$((commits + 1))
  local date
  date=$(printf '2026-03-%02dT09:00:00+00:00' "$commits")
  git add -A
  GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git commit -q -m "$1"
}
say() { printf '\n== %s\n' "$1"; }

say "Set up git, ledger and DVC in $PWD"
git init -q -b main
git config user.name "Example Team"
git config user.email "team@example.org"
git config commit.gpgsign false
ledger init >/dev/null
dvc init -q
dvc config core.analytics false
dvc config core.check_update false
dvc remote add -q -d local .dvc-remote  # a DVC remote inside DIR; git ignores it
printf '/.dvc-remote/\n__pycache__/\n' >>.gitignore
mkdir src data
cp "$here"/src/*.py src/
cp "$here/params.yaml" "$here/documentation.yaml" "$here/dvc.yaml" .
commit "Set up the ward deterioration project"

say "Iteration 1: cohort 1.0 and test set 1.0, model 1.0, its evaluation"
python src/make_data.py data/cohort.csv 400 1
python src/make_data.py data/test.csv 300 2
dvc add -q data/cohort.csv data/test.csv
python src/record_dataset.py cohort
python src/record_dataset.py test
dvc push -q
commit "Add cohort 1.0 and the held-out test set 1.0"
dvc repro -q     # model 1.0 and its evaluation wait in .ledger/pending until DVC writes dvc.lock,
ledger complete  # and are written now: the model pinned to the train stage's entry, then the
                 # evaluation linked to the model record's hash
dvc push -q
commit "Train model 1.0 and evaluate it on the held-out test set"

say "Iteration 2: cohort 1.1 (more rows), model 1.1 retrained, evaluated on the same test set"
python src/make_data.py data/cohort.csv 600 1  # the same 400 rows, then 200 more
dvc add -q data/cohort.csv
cat >params.yaml <<'PARAMS'
# Second iteration: each new version names the version it supersedes, and why.
cohort:
  record:
    version: "1.1"
    supersedes: dataset:deterioration-cohort@1.0
    reason: Three more months of admissions (600 instead of 400)
    change_type: data-update
test:
  record: {version: "1.0"}
model:
  hyperparameters: {learning_rate: 0.5, epochs: 300, l2: 0.001, threshold: 0.15}
  record:
    version: "1.1"
    supersedes: model:deterioration-risk@1.0
    reason: Retrained on cohort 1.1
    change_type: retrain
evaluation:
  record:
    version: "1.1"
    supersedes: evaluation:deterioration-risk-heldout@1.0
    reason: Model 1.1 on the same held-out test set
    change_type: re-evaluation
PARAMS
python src/record_dataset.py cohort
dvc push -q
commit "Extend the cohort to 1.1

Ledger-Reason: Three more months of admissions (600 instead of 400)"
dvc repro -q
ledger complete
dvc push -q
commit "Retrain the model as 1.1 and evaluate it on the same test set

Ledger-Reason: Retrained on cohort 1.1"

say "ledger verify"
ledger verify
say "ledger lineage"
ledger lineage
say "Built $PWD. Next, for example:"
echo "  cd $PWD && git log --stat"
echo "  cd $PWD && ledger lineage --all-versions"
echo "  cd $PWD && ledger compare deterioration-risk-heldout@1.0 deterioration-risk-heldout@1.1"
