export HOME=/tmp/e2e-probe/home-gemini
export PATH=/tmp/e2e-probe/inst-gemini/node_modules/.bin:$PATH
export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:$PORT
export GEMINI_API_KEY=mock-key
export GEMINI_CLI_TRUST_WORKSPACE=${GEMINI_CLI_TRUST_WORKSPACE-true}
export GEMINI_TELEMETRY_ENABLED=false
export GEMINI_CLI_NO_RELAUNCH=true
