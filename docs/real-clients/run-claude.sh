#!/bin/bash
# usage: run-claude.sh <tag> [MOCK_FAIL status]   -> out-claude-<tag>.jsonl, hooks-claude-<tag>.log, req-claude-<tag>.jsonl
set -u
cd /tmp/e2e-probe
TAG=$1; FAIL=${2:-0}
rm -f port.$TAG req-claude-$TAG.jsonl hooks-claude-$TAG.log
MOCK_FAIL=$FAIL python3 mock.py --port 0 --ttl 150 --log req-claude-$TAG.jsonl --port-file port.$TAG > mock-$TAG.out 2>&1 &
MPID=$!
for i in $(seq 50); do [ -s port.$TAG ] && break; sleep 0.1; done
export PORT=$(cat port.$TAG)
. ./env-claude.sh
export CLAUDE_CODE_MAX_RETRIES=${CLAUDE_CODE_MAX_RETRIES:-0}
R=repo-claude-$TAG; rm -rf $R; mkdir -p $R/.claude; [ -z "${NO_HOOKS:-}" ] && cp repo-claude/.claude/settings.json $R/.claude/
sed -i "s|\.sh claude |.sh claude-$TAG |" $R/.claude/settings.json
(cd $R && git init -q && git -c user.email=a@b -c user.name=t commit -q --allow-empty -m init)
cd $R
s=$(date +%s.%N)
${WRAP:-} timeout 120 claude -p "Create a file mock_hello.txt" --output-format stream-json --verbose --include-hook-events --permission-mode acceptEdits > ../out-claude-$TAG.jsonl 2> ../err-claude-$TAG.txt
rc=$?
e=$(date +%s.%N)
echo "rc=$rc elapsed=$(echo "$e - $s" | bc) claude_exit_epoch=$e"
sleep 1
kill $MPID 2>/dev/null
git status --short; cat mock_hello.txt 2>/dev/null
