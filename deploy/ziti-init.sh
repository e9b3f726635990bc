#!/usr/bin/env bash
# One-shot set-up of the OpenZiti network for docker-compose.yml: logs in as the admin, creates the edge
# router (its enrollment token goes to the router-token volume), the receiver and sender identities, the
# service and its four policies, and enrolls the receiver identity into the identities volume.
# Runs once: a marker in the identities volume makes later `docker compose up` runs a no-op.
set -euo pipefail

ctrl="${ZITI_CTRL_ADVERTISED_ADDRESS:-ziti-controller}:${ZITI_CTRL_ADVERTISED_PORT:-1280}"
router="${DARKHOOK_ROUTER_NAME:-darkhook-router}"
receiver="${DARKHOOK_RECEIVER_IDENTITY:-darkhook-receiver}"
sender="${DARKHOOK_SENDER_IDENTITY:-ci-sender}"
service="${DARKHOOK_SERVICE:-jenkins-hooks}"
ids=/identities
token_dir=/router-token
marker="$ids/.ziti-init-done"
# uid:gid that read the files: the darkhook image's user, and ziggy in the OpenZiti images.
darkhook_owner="${DARKHOOK_UID:-10001}:${DARKHOOK_GID:-10001}"
ziggy_owner="${ZIGGY_UID:-2171}:${ZIGGY_UID:-2171}"

if [[ -e "$marker" ]]; then
  echo "ziti-init: already done ($(cat "$marker")); remove the volumes (docker compose down -v) to start over"
  exit 0
fi
: "${ZITI_PWD:?ZITI_PWD must be set}"

# The controller's agent answers (healthcheck) slightly before its REST API: retry the login, bounded.
for attempt in $(seq 1 60); do
  if ziti edge login "$ctrl" --username "${ZITI_USER:-admin}" --password "$ZITI_PWD" --yes >/dev/null; then break; fi
  if (( attempt == 60 )); then echo "ziti-init: cannot log in to $ctrl" >&2; exit 1; fi
  sleep 2
done
echo "ziti-init: logged in to $ctrl"

ziti edge create edge-router "$router" --role-attributes darkhook-routers --jwt-output-file "$token_dir/$router.jwt"
chown "$ziggy_owner" "$token_dir/$router.jwt"
chmod 0600 "$token_dir/$router.jwt"

ziti edge create identity "$receiver" --role-attributes jenkins-hosts --jwt-output-file "$ids/$receiver.jwt"
ziti edge create identity "$sender" --role-attributes webhook-senders --jwt-output-file "$ids/$sender.jwt"

ziti edge create service "$service" --role-attributes darkhook-services
ziti edge create service-policy "$service-bind" Bind --service-roles "@$service" --identity-roles '#jenkins-hosts'
ziti edge create service-policy "$service-dial" Dial --service-roles "@$service" --identity-roles '#webhook-senders'
ziti edge create edge-router-policy darkhook-identities-routers \
  --edge-router-roles '#darkhook-routers' --identity-roles '#jenkins-hosts,#webhook-senders'
ziti edge create service-edge-router-policy darkhook-services-routers \
  --service-roles '#darkhook-services' --edge-router-roles '#darkhook-routers'

# The receiver's identity is enrolled here, so the sidecar starts with a ready identity file. The sender's
# token stays for the operator to hand to the CI job (it expires: see docs/deploy.md).
ziti edge enroll "$ids/$receiver.jwt" --out "$ids/$receiver.json"
rm -f "$ids/$receiver.jwt"
chown -R "$darkhook_owner" "$ids"
chmod 0700 "$ids"
chmod 0600 "$ids"/*

date -u +%Y-%m-%dT%H:%M:%SZ > "$marker"
echo "ziti-init: network ready: service $service, receiver $receiver enrolled, sender token $ids/$sender.jwt"
