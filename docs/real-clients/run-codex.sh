#!/bin/bash
# usage: run-codex.sh <tag> [MOCK_FAIL] [extra codex exec args...]
set -u
cd /tmp/e2e-probe
TAG=$1; FAIL=${2:-0}; shift 2 || true
rm -f port.c$TAG req-codex-$TAG.jsonl hooks-codex-$TAG.log*
MOCK_FAIL=$FAIL python3 mock.py --port 0 --ttl 150 --log req-codex-$TAG.jsonl --port-file port.c$TAG > mock-c$TAG.out 2>&1 &
MPID=$!
for i in $(seq 50); do [ -s port.c$TAG ] && break; sleep 0.1; done
PORT=$(cat port.c$TAG)
export HOME=/tmp/e2e-probe/home-codex-$TAG CODEX_HOME=/tmp/e2e-probe/home-codex-$TAG/.codex
rm -rf $HOME; mkdir -p $CODEX_HOME
sed "s/@PORT@/$PORT/; s/@TAG@/$TAG/; s/@MODEL@/${CODEX_MODEL:-gpt-5.5}/" codex-config.toml.tmpl > $CODEX_HOME/config.toml
[ -z "${NO_HOOKS:-}" ] && sed "s/@TAG@/$TAG/" codex-hooks.json.tmpl > $CODEX_HOME/hooks.json
export PATH=/tmp/e2e-probe/inst-codex/node_modules/.bin:$PATH MOCK_API_KEY=mock-key
R=repo-codex-$TAG; rm -rf $R; mkdir -p $R
(cd $R && git init -q && git -c user.email=a@b -c user.name=t commit -q --allow-empty -m init)
cd $R
[ -n "${TRUST:-}" ] && python3 /tmp/e2e-probe/codex-trust-hooks.py . > ../trust-codex-$TAG.txt
s=$(date +%s.%N)
${WRAP:-} timeout 120 codex exec --json "$@" "Create a file mock_hello.txt" > ../out-codex-$TAG.jsonl 2> ../err-codex-$TAG.txt < /dev/null
rc=$?
e=$(date +%s.%N)
echo "rc=$rc elapsed=$(echo "$e - $s" | bc) exit_epoch=$e"
sleep 1
kill $MPID 2>/dev/null
git status --short; cat mock_hello.txt 2>/dev/null
