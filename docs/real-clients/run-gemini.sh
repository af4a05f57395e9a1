#!/bin/bash
set -u
cd /tmp/e2e-probe
TAG=$1; FAIL=${2:-0}; shift 2 || true
rm -f port.g$TAG req-gemini-$TAG.jsonl hooks-gemini-$TAG.log*
MOCK_FAIL=$FAIL python3 mock.py --port 0 --ttl 150 --log req-gemini-$TAG.jsonl --port-file port.g$TAG > mock-g$TAG.out 2>&1 &
MPID=$!
for i in $(seq 50); do [ -s port.g$TAG ] && break; sleep 0.1; done
export PORT=$(cat port.g$TAG)
. ./env-gemini.sh
R=repo-gemini-$TAG; rm -rf $R; mkdir -p $R/.gemini; [ -z "${NO_HOOKS:-}" ] && cp repo-gemini/.gemini/settings.json $R/.gemini/
sed -i "s|\.sh gemini |.sh gemini-$TAG |" $R/.gemini/settings.json
(cd $R && git init -q && git -c user.email=a@b -c user.name=t commit -q --allow-empty -m init)
cd $R
s=$(date +%s.%N)
${WRAP:-} timeout 120 gemini -p "Create a file mock_hello.txt" --output-format stream-json --approval-mode yolo "$@" > ../out-gemini-$TAG.jsonl 2> ../err-gemini-$TAG.txt < /dev/null
rc=$?
e=$(date +%s.%N)
echo "rc=$rc elapsed=$(echo "$e - $s" | bc) exit_epoch=$e"
sleep 1
kill $MPID 2>/dev/null
git status --short; cat mock_hello.txt 2>/dev/null
