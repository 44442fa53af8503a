#!/usr/bin/env python3
"""Check the invariants of Pharos's deploy kit that a schema cannot see.

    python3 deploy/check_manifests.py [--self-test] [DEPLOY_DIR]

Kubernetes (DEPLOY_DIR/kubernetes/*.yaml):
  * a worker (a pod running `pharos probe`) is a Deployment with replicas 1 and strategy
    Recreate, or a StatefulSet with replicas 1; no HorizontalPodAutoscaler scales it; no
    two workers run the same region (one writer per region);
  * every pod: runAsNonRoot, a non-zero runAsUser, seccomp RuntimeDefault; every container:
    no privilege escalation, a read-only root file system, capabilities drop ALL, not
    privileged; workers set the net.ipv4.ping_group_range sysctl;
  * Secrets hold placeholders only (REPLACE_ME); no container sets a secret-looking
    variable (…KEY, …SECRET, …TOKEN, …PASSWORD, …WEBHOOK_URL) to a literal value.
Compose (DEPLOY_DIR/compose/*.yaml, *.env.example):
  * the worker service is not scaled (deploy.replicas, scale) nor updated start-first;
  * no literal secret in `environment:`; the env templates hold placeholders only.

Exit 0 when all hold, 1 with one line per broken invariant. Needs PyYAML. --self-test
breaks each invariant in a copy of the files and checks that it is caught.
"""

import copy
import pathlib
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check_manifests: needs PyYAML (python3 -m pip install pyyaml)")

PLACEHOLDER = "REPLACE_ME"
# Variable names that hold credentials.
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|WEBHOOK_URL)$|^AWS_ACCESS_KEY_ID$")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def pod_spec(obj):
    """The pod spec of a workload object, or None."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    if kind in WORKLOADS:
        return (spec.get("template") or {}).get("spec")
    return None


def containers(pod):
    return list(pod.get("initContainers") or []) + list(pod.get("containers") or [])


def is_worker(pod):
    """A pod that runs `pharos probe`."""
    for c in pod.get("containers") or []:
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        words = [a for a in argv if not str(a).endswith("pharos")]
        if words and words[0] == "probe":
            return True
    return False


def env_value(container, name):
    for e in container.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def check_kubernetes(docs):
    """docs: [(file, obj)]. Returns a list of problems."""
    problems = []
    regions = {}
    workers = set()
    for file, obj in docs:
        kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
        where = f"{file}: {kind}/{name}"
        if kind == "Secret":
            values = dict(obj.get("stringData") or {})
            if obj.get("data"):
                problems.append(f"{where}: has base64 `data`; templates use stringData placeholders")
            for key, value in values.items():
                if PLACEHOLDER not in str(value):
                    problems.append(f"{where}: {key} is not a placeholder ({PLACEHOLDER})")
            continue
        if kind == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if re.search(r"(?i)(secret_access_key|password|token)\s*[:=]\s*[^$\s{]", str(value)):
                    problems.append(f"{where}: {key} seems to hold a secret; write ${{NAME}} and put NAME in a Secret")
            continue
        pod = pod_spec(obj)
        if pod is None:
            continue
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if not psc.get("runAsUser"):
            problems.append(f"{where}: pod securityContext.runAsUser is unset or 0")
        pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
        for c in containers(pod):
            cw = f"{where} container {c.get('name')}"
            sc = c.get("securityContext") or {}
            if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
                problems.append(f"{cw}: runAsNonRoot false or runAsUser 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cw}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cw}: readOnlyRootFilesystem is not true")
            if sc.get("privileged"):
                problems.append(f"{cw}: privileged")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{cw}: capabilities do not drop ALL")
            if ((sc.get("seccompProfile") or {}).get("type") or pod_seccomp) != "RuntimeDefault":
                problems.append(f"{cw}: seccompProfile is not RuntimeDefault")
            for e in c.get("env") or []:
                if SECRET_NAME.search(str(e.get("name"))) and "value" in e:
                    problems.append(f"{cw}: {e['name']} is a literal value; take it from a Secret")
        if not is_worker(pod):
            continue
        workers.add((kind, name))
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        if kind == "Deployment":
            strategy = ((obj["spec"].get("strategy") or {}).get("type")) or "RollingUpdate"
            if replicas != 1 or strategy != "Recreate":
                problems.append(
                    f"{where}: a worker must have replicas 1 and strategy Recreate "
                    f"(has replicas {replicas}, strategy {strategy}): one writer per region"
                )
        elif kind == "StatefulSet":
            if replicas != 1:
                problems.append(f"{where}: a worker StatefulSet must have replicas 1 (has {replicas})")
        else:
            problems.append(f"{where}: a worker must be a Deployment (Recreate) or a StatefulSet, not a {kind}")
        region = None
        for c in pod.get("containers") or []:
            region = region or env_value(c, "PHAROS_REGION")
            argv = [str(a) for a in (c.get("args") or [])]
            if "--region" in argv[:-1]:
                region = argv[argv.index("--region") + 1]
        if not region:
            problems.append(f"{where}: a worker without a region (PHAROS_REGION or --region)")
        elif region in regions:
            problems.append(f"{where}: region {region} already has a worker in {regions[region]}: one per region")
        else:
            regions[region] = where
        sysctls = {s.get("name"): s.get("value") for s in psc.get("sysctls") or []}
        if "net.ipv4.ping_group_range" not in sysctls:
            problems.append(f"{where}: no net.ipv4.ping_group_range sysctl (ICMP probes need it)")
    for file, obj in docs:
        if obj.get("kind") == "HorizontalPodAutoscaler":
            ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            if (ref.get("kind"), ref.get("name")) in workers:
                problems.append(f"{file}: HorizontalPodAutoscaler scales worker {ref.get('name')}")
    return problems


def check_compose(docs):
    """docs: [(file, compose document)]."""
    problems = []
    for file, doc in docs:
        for name, svc in ((doc or {}).get("services") or {}).items():
            where = f"{file}: service {name}"
            command = svc.get("command") or []
            command = command.split() if isinstance(command, str) else command
            if command[:1] == ["probe"]:
                deploy = svc.get("deploy") or {}
                if int(deploy.get("replicas", 1)) > 1 or int(svc.get("scale", 1)) > 1:
                    problems.append(f"{where}: a worker must not be scaled (one per region)")
                if (deploy.get("update_config") or {}).get("order") == "start-first":
                    problems.append(f"{where}: update_config.order start-first would run two workers")
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
            for key, value in env.items():
                if SECRET_NAME.search(key) and value not in (None, "") and not str(value).startswith("${"):
                    problems.append(f"{where}: {key} is a literal value; put it in the env_file")
    return problems


def check_env_templates(files):
    problems = []
    for file, text in files:
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if SECRET_NAME.search(key) and PLACEHOLDER not in value:
                problems.append(f"{file}:{n}: {key} is not a placeholder ({PLACEHOLDER})")
    return problems


def load(deploy):
    k8s, compose, envs = [], [], []
    for path in sorted((deploy / "kubernetes").glob("*.y*ml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                k8s.append((path.name, obj))
    for path in sorted((deploy / "compose").glob("*.y*ml")):
        compose.append((path.name, yaml.safe_load(path.read_text())))
    for path in sorted((deploy / "compose").glob("*.env.example")):
        envs.append((path.name, path.read_text()))
    return k8s, compose, envs


def check(k8s, compose, envs):
    return check_kubernetes(k8s) + check_compose(compose) + check_env_templates(envs)


def self_test(k8s, compose, envs):
    """Break each invariant in a copy and expect a problem; returns the failures."""

    def first(kind, pred=lambda o: True):
        for i, (_, o) in enumerate(k8s):
            if o.get("kind") == kind and pred(o):
                return i
        raise SystemExit(f"check_manifests: self-test needs a {kind} in the kit")

    worker = first("Deployment", lambda o: is_worker(pod_spec(o)))
    secret = first("Secret")

    def with_k8s(i, change):
        docs = copy.deepcopy(k8s)
        change(docs[i][1])
        return docs

    def set_path(obj, path, value):
        for key in path[:-1]:
            obj = obj[key] if not isinstance(obj, list) else obj[int(key)]
        obj[path[-1]] = value

    cases = {
        "worker replicas 2": with_k8s(worker, lambda o: set_path(o, ["spec", "replicas"], 2)),
        "worker RollingUpdate": with_k8s(worker, lambda o: set_path(o, ["spec", "strategy"], {"type": "RollingUpdate"})),
        "worker as DaemonSet": with_k8s(worker, lambda o: o.update(kind="DaemonSet")),
        "runAsNonRoot false": with_k8s(worker, lambda o: set_path(o, ["spec", "template", "spec", "securityContext", "runAsNonRoot"], False)),
        "writable root": with_k8s(worker, lambda o: set_path(o, ["spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"], False)),
        "secret value": with_k8s(secret, lambda o: set_path(o, ["stringData", "AWS_SECRET_ACCESS_KEY"], "wJalrXUtnFEMI/K7MDENG")),
        "literal env secret": with_k8s(worker, lambda o: o["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "value": "abc"})),
        "two workers of a region": copy.deepcopy(k8s) + [("copy.yaml", dict(copy.deepcopy(k8s[worker][1]), metadata={"name": "second"}))],
    }
    failures = []
    for label, docs in cases.items():
        if not check_kubernetes(docs):
            failures.append(f"self-test: '{label}' was not caught")
    svc = next((f, n) for f, d in compose for n, s in (d.get("services") or {}).items() if (s.get("command") or [""])[0] == "probe")
    scaled = copy.deepcopy(compose)
    for f, d in scaled:
        if f == svc[0]:
            d["services"][svc[1]]["deploy"] = {"replicas": 2}
    if not check_compose(scaled):
        failures.append("self-test: a scaled compose worker was not caught")
    if envs and not check_env_templates([(envs[0][0], envs[0][1] + "\nAWS_SECRET_ACCESS_KEY=abc\n")]):
        failures.append("self-test: a secret in an env template was not caught")
    return failures, len(cases) + 2


def main(argv):
    args = [a for a in argv if a != "--self-test"]
    deploy = pathlib.Path(args[0]) if args else pathlib.Path(__file__).resolve().parent
    k8s, compose, envs = load(deploy)
    if not k8s or not compose:
        print(f"check_manifests: no manifests under {deploy}/kubernetes or {deploy}/compose", file=sys.stderr)
        return 1
    problems = check(k8s, compose, envs)
    for p in problems:
        print(f"check_manifests: {p}", file=sys.stderr)
    if "--self-test" in argv:
        failures, n = self_test(k8s, compose, envs)
        for f in failures:
            print(f"check_manifests: {f}", file=sys.stderr)
        problems += failures
        if not failures:
            print(f"check_manifests: self-test ok: {n} broken copies caught")
    if problems:
        print(f"check_manifests: FAILED: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_manifests: ok: {len(k8s)} Kubernetes objects, {len(compose)} compose files, {len(envs)} env templates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
