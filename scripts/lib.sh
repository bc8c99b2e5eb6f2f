# Shared by scripts/test and scripts/demo: the Python tools from requirements-dev.txt in .venv.
# Re-installs only when requirements-dev.txt changes.

ensure_venv() {
  local want have
  want=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' requirements-dev.txt)
  have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
  if [ ! -x .venv/bin/python ] || [ "$want" != "$have" ]; then
    echo "==> installing test tools into .venv (moto, AWS CLI, cfn-lint)" >&2
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > .venv/.requirements.sha256
  fi
}
