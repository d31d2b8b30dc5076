#!/usr/bin/env bash
# A provider account and two consumer accounts, end to end, against a running
# ember server. Needs: ember on PATH (or EMBER=path), jq, curl, and the admin
# credentials file of the server (ADMIN=ember-data/admin-credentials.json).
#
#   bash examples/marketplace/run.sh
set -euo pipefail
cd "$(dirname "$0")"
EMBER=${EMBER:-ember}
ADMIN=${ADMIN:-../../ember-data/admin-credentials.json}
export EMBER_ENDPOINT=${EMBER_ENDPOINT:-http://127.0.0.1:9000}
suffix=$RANDOM

as() { # as ACCOUNT-FILE ember-args...: run ember as that account
	local f=$1; shift
	"$EMBER" --credentials-file "$f" "$@"
}
awsas() { # awsas ACCOUNT-FILE aws-args...: run the AWS CLI as that account
	local f=$1; shift
	AWS_ACCESS_KEY_ID=$(jq -r .AccessKeyId "$f") AWS_SECRET_ACCESS_KEY=$(jq -r .SecretAccessKey "$f") \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		aws --endpoint-url "$EMBER_ENDPOINT" --region local --output json "$@"
}
account() { # account NAME: create it, write its credentials to NAME.json
	"$EMBER" --credentials-file "$ADMIN" account create "$1-$suffix" >"$work/$1.json"
	jq -r .AccountId "$work/$1.json"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

A=$(account provider); B=$(account consumer-b); C=$(account consumer-c)
echo "provider $A, consumers $B and $C"

echo "== A deploys the quote function"
as "$work/provider.json" deploy quotes . --runtime python3.12 --handler app.handler >/dev/null
as "$work/provider.json" invoke quotes '{"item":"apple","qty":2}'

echo "== B: a cross-account alias with its own credentials and defaults"
# A grants B (the AWS CLI, unchanged); B names A's function in its own namespace.
awsas "$work/provider.json" lambda add-permission --function-name quotes \
	--statement-id b --action lambda:InvokeFunction --principal "$B" >/dev/null
target="arn:aws:lambda:local:$A:function:quotes"
as "$work/consumer-b.json" alias-of quotes-b "$target" --param currency=USD --env TENANT_TOKEN=b-secret-token >/dev/null
as "$work/consumer-b.json" invoke quotes-b '{"item":"plum","qty":3}'
echo "B cannot read A's code or configuration:"
awsas "$work/consumer-b.json" lambda get-function --function-name quotes-b 2>&1 | tail -1 || true

echo "== C: subscribes to A's published API"
api=$(as "$work/provider.json" api create shop --description "quotes over HTTP" | jq -r .ApiId)
as "$work/provider.json" api route "$api" 'GET /quote/{item}' quotes --timeout 3 >/dev/null
as "$work/provider.json" api publish "$api" --accounts "$C" >/dev/null
as "$work/provider.json" api deploy "$api" prod >/dev/null
key=$(as "$work/consumer-c.json" api subscribe "$api" | jq -r .Key)
curl -sS -H "x-api-key: $key" "$EMBER_ENDPOINT/apis/$api/prod/quote/apple?qty=4"; echo
echo "without a key:"
curl -sS "$EMBER_ENDPOINT/apis/$api/prod/quote/apple"; echo

echo "== usage: each consumer pays for its own calls; A sees counts only"
sleep 1
echo "B:"; as "$work/consumer-b.json" usage --by alias | jq -c '.[] | {Key, Invocations, GBSeconds}'
echo "C:"; as "$work/consumer-c.json" usage --by api | jq -c '.[] | {Key, Invocations, GBSeconds}'
echo "A (its own calls):"; as "$work/provider.json" usage --by function | jq -c '.[] | {Key, Invocations, GBSeconds}'
echo "A (others' use of its functions):"; as "$work/provider.json" usage --by function --role owner | jq -c '.[] | {Key, Invocations}'

echo "== A revokes B: B's next call is refused"
awsas "$work/provider.json" lambda remove-permission --function-name quotes --statement-id b
as "$work/consumer-b.json" invoke quotes-b '{"item":"plum"}' || echo "(refused, as expected)"
