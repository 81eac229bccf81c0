#!/usr/bin/env bash
# Writes the fuzzers' seed corpora (fuzz/corpus/): encoded Stratum V2 frames, Stratum v1
# sessions, API requests, journal lines (fuzz/examples/seeds.rs), the config example, and real
# getblocktemplate answers from bcoin (regtest, segwit active, witness transactions in the
# mempool). The corpora are committed; run this again when a message format changes.
set -euo pipefail
cd "$(dirname "$0")/.."
BCOIN_DIR="${HASHRIG_BCOIN_DIR:-$HOME/.cache/hashrig/bcoin}"
CORPUS=fuzz/corpus

(cd fuzz && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}" cargo run -q --example seeds)
mkdir -p "$CORPUS/config_file"
cargo run -q --release -- config example > "$CORPUS/config_file/example.toml"
printf '[mine]\npool = ["stratum+tcp://u:p@127.0.0.1:3333"]\nduration = 1e20\nthreads = 99999999999\n' \
    > "$CORPUS/config_file/hostile.toml"

# bcoin on a free port, in memory, with a wallet.
PORT=$((20000 + RANDOM % 20000)); WPORT=$((PORT + 1))
PREFIX=$(mktemp -d)
NODE_BACKEND=js node "$BCOIN_DIR/node_modules/bcoin/bin/node" --network=regtest --memory=true \
    --prefix="$PREFIX" --http-host=127.0.0.1 --http-port=$PORT --api-key=test \
    --wallet-http-host=127.0.0.1 --wallet-http-port=$WPORT --wallet-api-key=test \
    --listen=false --max-outbound=1 --discover=false --only=127.0.0.1 --log-level=warning \
    >/dev/null 2>&1 &
BCOIN=$!
trap 'kill $BCOIN 2>/dev/null; rm -rf "$PREFIX"' EXIT
rpc() { curl -s --user x:test -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"1.0\",\"id\":\"hashrig\",\"method\":\"$1\",\"params\":$2}" "http://127.0.0.1:$PORT/"; }
wallet() { curl -s --user x:test -X "$1" -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$WPORT$2"; }
for _ in $(seq 100); do rpc getblockcount '[]' >/dev/null 2>&1 && break; sleep 0.2; done
wallet PUT /wallet/seg '{"witness":true}' >/dev/null
ADDR=$(wallet POST /wallet/seg/address '{"account":"default"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
rpc generatetoaddress "[450, \"$ADDR\"]" >/dev/null
mkdir -p "$CORPUS/template" "$CORPUS/rpc_answer"
rm -f "$CORPUS"/template/* "$CORPUS"/rpc_answer/*
for i in 1 2 3; do
    TO=$(wallet POST /wallet/seg/address '{"account":"default"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
    wallet POST /wallet/seg/send "{\"rate\":20000,\"outputs\":[{\"value\":$((i * 110000000)),\"address\":\"$TO\"}]}" >/dev/null
done
# Asked only once the transactions are in (bcoin keeps a template for ~10 s).
for _ in $(seq 50); do
    [ "$(rpc getrawmempool '[]' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]))')" = 3 ] && break
    sleep 0.2
done
rpc getblocktemplate '[{"rules":["segwit"],"capabilities":["coinbasevalue","longpoll"]}]' \
    > "$CORPUS/rpc_answer/bcoin-txs.body"
for f in "$CORPUS"/rpc_answer/*.body; do
    name=$(basename "$f" .body)
    # The template itself, and the HTTP answer with the harness's two status bytes (200).
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["result"]))' "$f" \
        > "$CORPUS/template/$name.json"
    { printf '\000\000'; cat "$f"; } > "$CORPUS/rpc_answer/$name"
    rm "$f"
done
ls -l "$CORPUS"/*
