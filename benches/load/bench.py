#!/usr/bin/env python3
"""Runs the whole-server load benchmark: every server in turn, every scenario, N repetitions; then the lost-update
check. Called by run.sh after the builds (see BENCHMARKS.md at the repository root for the method).

Environment (run.sh sets the first ones):
  BIN_DIR      the release binaries (bench-ours, bench-ours-actix, bench-tower, bench-actix, bench-plain,
               bench-hammer)
  NODE_DIR     benches/load/node (with node_modules)
  OUT_DIR      where raw.jsonl and lost_updates.json go
  OURS_REDIS   1 when bench-ours was built with the Redis store, else 0
  QUICK=1      one repetition, S1 and S3 only, 2 s runs: a smoke check
  REPS, DURATION, WARMUP, CONNECTIONS, LOST_N   override the defaults
  SYSTEMS      comma-separated subset of the system names below
  SCENARIOS    comma-separated subset of S1,S2,S3,S4
  HOT=0        skip the hot-session row; HOT_N (requests per measurement, default 20,000), HOT_SYSTEMS
  BENCH_PORT, BENCH_REDIS_PORT   the server's and the Redis server's ports (default 3900, 6399)
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("BIN_DIR", "/work/target-bench/release")
NODE_DIR = os.environ.get("NODE_DIR", os.path.join(HERE, "node"))
OUT = os.environ.get("OUT_DIR", os.path.join(HERE, "results"))
QUICK = os.environ.get("QUICK") == "1"
REPS = int(os.environ.get("REPS", "1" if QUICK else "5"))
DURATION = int(os.environ.get("DURATION", "2" if QUICK else "5"))
WARMUP = int(os.environ.get("WARMUP", "1"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
LOST_N = int(os.environ.get("LOST_N", "4000" if QUICK else "20000"))
SESSIONS = int(os.environ.get("SESSIONS", "256"))  # returning clients per scenario, each with its own cookie
SERVER_CPU = "0"
CLIENT_CPU = "1"
PORT = int(os.environ.get("BENCH_PORT", "3900"))  # another run may hold the defaults
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6399"))
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}"
TICK = os.sysconf("SC_CLK_TCK")

# name -> (label, command, env, store)
SYSTEMS = {
    "ours-memory": ("ours, MemoryStore", [f"{BIN}/bench-ours"], {"STORE": "memory"}, "memory"),
    "ours-redis": ("ours, RedisStore", [f"{BIN}/bench-ours"], {"STORE": "redis"}, "redis"),
    "ours-actix-memory": ("ours on actix-web, MemoryStore", [f"{BIN}/bench-ours-actix"], {"STORE": "memory"},
                          "memory"),
    # The store built per worker, on the worker's runtime, as the actix crate's README advises (see apps/ours-actix).
    "ours-actix-redis": ("ours on actix-web, RedisStore", [f"{BIN}/bench-ours-actix"], {"STORE": "redis-worker"},
                         "redis"),
    # The store connected once in `main`, as actix-session's is: not in the default run; SYSTEMS=... it.
    "ours-actix-redis-main": ("ours on actix-web, RedisStore connected in main", [f"{BIN}/bench-ours-actix"],
                              {"STORE": "redis"}, "redis"),
    "tower-memory": ("tower-sessions, MemoryStore", [f"{BIN}/bench-tower"], {"STORE": "memory"}, "memory"),
    "tower-redis": ("tower-sessions, RedisStore", [f"{BIN}/bench-tower"], {"STORE": "redis"}, "redis"),
    "actix-cookie": ("actix-session, CookieSessionStore", [f"{BIN}/bench-actix"], {"STORE": "cookie"}, "cookie"),
    "actix-redis": ("actix-session, RedisSessionStore", [f"{BIN}/bench-actix"], {"STORE": "redis"}, "redis"),
    "express-memory": ("express-session, MemoryStore", ["node", f"{NODE_DIR}/server.js"],
                       {"STORE": "memory", "NODE_ENV": "production"}, "memory"),
    "express-redis": ("express-session, connect-redis", ["node", f"{NODE_DIR}/server.js"],
                      {"STORE": "redis", "NODE_ENV": "production"}, "redis"),
    "ceiling": ("axum, no session layer", [f"{BIN}/bench-plain"], {}, "none"),
    # The multi-thread row (issue 17): the same apps on a runtime with two worker threads, still pinned to core 0
    # (what tokio's default multi-thread runtime gives the view-counter example on a 2-core machine, on one core).
    "ours-memory-2w": ("ours, MemoryStore, 2 workers", [f"{BIN}/bench-ours"], {"STORE": "memory", "WORKERS": "2"},
                       "memory"),
    "tower-memory-2w": ("tower-sessions, MemoryStore, 2 workers", [f"{BIN}/bench-tower"],
                        {"STORE": "memory", "WORKERS": "2"}, "memory"),
    "ceiling-2w": ("axum, no session layer, 2 workers", [f"{BIN}/bench-plain"], {"WORKERS": "2"}, "none"),
    "actix-none": ("actix-web, no session middleware", [f"{BIN}/bench-actix"], {"STORE": "none"}, "none"),
}

OPT_IN = {"ours-actix-redis-main"}  # run only when SYSTEMS names them
# Systems measured in some scenarios only (those of the selected ones in this list); the others run every one.
ONLY_SCENARIOS = {"ours-memory-2w": ["S3", "S1"], "tower-memory-2w": ["S3", "S1"], "ceiling-2w": ["S3", "S1"]}
# The hot-session row: 32 connections on ONE session, on a two-worker runtime (express: its one thread), CPU per
# request and how many of the updates the counter kept. Each repetition on a fresh server.
HOT_SYSTEMS = ["ours-memory-2w", "tower-memory-2w", "express-memory"]
HOT_N = int(os.environ.get("HOT_N", "4000" if QUICK else "20000"))
HOT_WARMUP = 2000  # requests on the same session before the measured ones (Node's JIT, the allocator's caches)

# name -> (path, how the clients get their cookies: None, or the path of their first request). Returning clients
# are SESSIONS sessions used in turn; the one-session case is the lost-update check.
SCENARIOS = {
    "S3": ("/static", "/foo"),   # returning clients on a route that never touches the session
    "S1": ("/foo", "/foo"),      # returning clients, count a view
    "S4": ("/foo", "/fill"),     # returning clients whose sessions hold 1 KiB
    "S2": ("/foo", None),        # new clients, no cookie: one new session per request
}
SCENARIO_ORDER = ["S3", "S1", "S4", "S2"]  # S2 last: it fills the in-process stores
# The ceilings (store "none") set no cookie; their returning clients send cookies of the size ours sends, so the
# requests match.
def ceiling_cookie(i):
    return "connect.sid=s%3A" + f"{i:032d}" + "." + "B" * 43


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def selected(env_name, names):
    wanted = os.environ.get(env_name)
    if not wanted:
        return list(names)
    chosen = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        sys.exit(f"unknown {env_name}: {unknown}")
    return [n for n in names if n in chosen]


def proc_cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_ctx_switches(pid):
    """Voluntary + involuntary context switches of the process' live threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return total


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def get(path, cookie=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    headers = {"Cookie": cookie} if cookie else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    set_cookie = response.getheader("Set-Cookie")
    conn.close()
    return response.status, body, set_cookie


def wait_ready(proc, deadline=30.0):
    start = time.time()
    while time.time() - start < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            status, _, _ = get("/static", timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not answer in time")


class Redis:
    """Our own redis-server on port 6399, on the server's core; never the machine's shared instance."""

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), *args], capture_output=True, text=True)
        return r.stdout.strip()

    def flush(self):
        self.cli("FLUSHALL")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)


class Server:
    def __init__(self, name):
        self.name = name
        _, cmd, env, _ = SYSTEMS[name]
        full_env = dict(os.environ, PORT=str(PORT), REDIS_URL=REDIS_URL, **env)
        full_env.pop("RUST_LOG", None)
        cwd = NODE_DIR if cmd[0] == "node" else HERE
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd], env=full_env, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(OUT, "server.log"), "a"))
        wait_ready(self.proc)
        self.pid = self.proc.pid  # taskset execs the server: same pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cookie_of(set_cookie):
    return set_cookie.split(";", 1)[0] if set_cookie else None


def wrk(path, cookie_file, seconds, latency):
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    if latency:
        cmd.append("--latency")
    if cookie_file:
        cmd += ["-s", os.path.join(HERE, "cookies.lua")]
    cmd.append(f"http://127.0.0.1:{PORT}{path}")
    if cookie_file:
        cmd += ["--", cookie_file]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.stdout


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def parse_wrk(out):
    def num(pattern):
        m = re.search(pattern, out)
        return m.group(1) if m else None
    requests = int(num(r"(\d+) requests in") or 0)
    rps = float(num(r"Requests/sec:\s+([\d.]+)") or 0)
    p99 = None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if m:
        p99 = float(m.group(1)) * UNITS[m.group(2)]
    non2xx = int(num(r"Non-2xx or 3xx responses: (\d+)") or 0)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in m.groups()) if m else 0
    return {"requests": requests, "rps": rps, "p99_ms": p99, "non_2xx": non2xx, "socket_errors": socket_errors}


def measure(server, redis, scenario):
    path, cookie_path = SCENARIOS[scenario]
    cookie = None
    if cookie_path:
        cookies = []
        for i in range(SESSIONS):
            status, _, set_cookie = get(cookie_path)
            c = ceiling_cookie(i) if SYSTEMS[server.name][3] == "none" else cookie_of(set_cookie)
            if status != 200 or not c:
                raise RuntimeError(f"{server.name} {scenario}: no cookie from {cookie_path} (status {status})")
            cookies.append(c)
        cookie = os.path.join(OUT, "cookies.txt")
        with open(cookie, "w") as f:
            f.write("\n".join(cookies) + "\n")
    wrk(path, cookie, WARMUP, latency=False)
    redis_pid = redis.proc.pid if (redis and SYSTEMS[server.name][3] == "redis") else None
    cpu0 = proc_cpu_ticks(server.pid)
    cs0 = proc_ctx_switches(server.pid)
    rcpu0 = proc_cpu_ticks(redis_pid) if redis_pid else 0
    rss0 = proc_status(server.pid, "VmRSS")
    t0 = time.time()
    out = wrk(path, cookie, DURATION, latency=True)
    wall = time.time() - t0
    cpu1 = proc_cpu_ticks(server.pid)
    cs1 = proc_ctx_switches(server.pid)
    rcpu1 = proc_cpu_ticks(redis_pid) if redis_pid else 0
    rss1 = proc_status(server.pid, "VmRSS")
    result = parse_wrk(out)
    n = max(result["requests"], 1)
    result.update({
        "cpu_us_per_req": (cpu1 - cpu0) / TICK * 1e6 / n,
        "server_cpu_util": (cpu1 - cpu0) / TICK / wall,
        "ctx_switches_per_req": (cs1 - cs0) / n,
        "redis_cpu_us_per_req": ((rcpu1 - rcpu0) / TICK * 1e6 / n) if redis_pid else None,
        "rss_before_kb": rss0,
        "rss_after_kb": rss1,
        "hwm_kb": proc_status(server.pid, "VmHWM"),
    })
    if result["requests"] == 0:
        result["wrk_output"] = out
    return result


def record_size(redis):
    """The JSON record of one S2 session, as ours stores it (read back from Redis after ours-redis' S2)."""
    keys = redis.cli("--scan", "--pattern", "sess:*").split()[:50]
    sizes = [int(redis.cli("STRLEN", k)) for k in keys]
    return min(sizes) if sizes else None


def lost_updates(name, redis):
    if redis and SYSTEMS[name][3] == "redis":
        redis.flush()
    server = Server(name)
    try:
        status, body, set_cookie = get("/foo")
        cookie = cookie_of(set_cookie)
        r = subprocess.run(["taskset", "-c", CLIENT_CPU, f"{BIN}/bench-hammer", str(PORT), "/foo", cookie,
                            str(CONNECTIONS), str(LOST_N)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        hammer = json.loads(r.stdout)
        _, final_body, _ = get("/foo", cookie)
        final = int(re.search(r"page (\d+) times", final_body).group(1))
        kept = final - 2  # minus the first request (which made the session) and this last one
        return {"system": name, "requests": LOST_N, "ok": hammer["ok"], "final_counter": final,
                "kept": kept, "lost": hammer["ok"] - kept, "seconds": hammer["seconds"],
                "note": ("the state travels in the cookie: every request starts from the client's copy"
                         if SYSTEMS[name][3] == "cookie" else "")}
    finally:
        server.stop()


def counter(cookie):
    status, body, _ = get("/foo", cookie)
    m = re.search(r"page (\d+) times", body)
    if status != 200 or not m:
        raise RuntimeError(f"no counter in the answer ({status}): {body[:200]}")
    return int(m.group(1))


def hammer(cookie, n):
    r = subprocess.run(["taskset", "-c", CLIENT_CPU, f"{BIN}/bench-hammer", str(PORT), "/foo", cookie,
                        str(CONNECTIONS), str(n)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)


def hot_session(name, rep):
    """One repetition of the hot-session row: a fresh server, one session, HOT_WARMUP then HOT_N requests from
    CONNECTIONS connections all carrying its cookie; the server's CPU over the HOT_N, and the counter before and
    after them (each read is itself a counted view)."""
    server = Server(name)
    try:
        _, _, set_cookie = get("/foo")
        cookie = cookie_of(set_cookie)
        hammer(cookie, HOT_WARMUP)
        before = counter(cookie)
        cpu0 = proc_cpu_ticks(server.pid)
        cs0 = proc_ctx_switches(server.pid)
        h = hammer(cookie, HOT_N)
        cpu1 = proc_cpu_ticks(server.pid)
        cs1 = proc_ctx_switches(server.pid)
        after = counter(cookie)
        kept = after - before - 1
        ok = max(h["ok"], 1)
        return {"system": name, "rep": rep, "requests": HOT_N, "ok": h["ok"], "non_200": h["non_200"],
                "failed_connections": h["failed_connections"], "kept": kept, "lost": h["ok"] - kept,
                "seconds": h["seconds"], "rps": h["ok"] / h["seconds"] if h["seconds"] else None,
                "cpu_us_per_req": (cpu1 - cpu0) / TICK * 1e6 / ok,
                "server_cpu_util": (cpu1 - cpu0) / TICK / h["seconds"] if h["seconds"] else None,
                "ctx_switches_per_req": (cs1 - cs0) / ok}
    finally:
        server.stop()


def main():
    os.makedirs(OUT, exist_ok=True)
    systems = selected("SYSTEMS", SYSTEMS)
    if not os.environ.get("SYSTEMS"):
        systems = [s for s in systems if s not in OPT_IN]
    if os.environ.get("OURS_REDIS", "1") != "1" and "ours-redis" in systems:
        log("ours-redis left out: bench-ours was built without express-session-redis")
        systems.remove("ours-redis")
    scenarios = selected("SCENARIOS", SCENARIO_ORDER)
    if QUICK and not os.environ.get("SCENARIOS"):
        scenarios = ["S3", "S1"]
    scenarios = [s for s in SCENARIO_ORDER if s in scenarios]
    needs_redis = any(SYSTEMS[s][3] == "redis" for s in systems)
    redis = Redis() if needs_redis else None
    raw_path = os.path.join(OUT, "raw.jsonl")
    open(raw_path, "w").close()
    open(os.path.join(OUT, "server.log"), "w").close()
    meta = {"reps": REPS, "sessions": SESSIONS, "duration_s": DURATION, "warmup_s": WARMUP, "connections": CONNECTIONS,
            "systems": systems, "scenarios": scenarios, "quick": QUICK, "lost_n": LOST_N,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_at_start": open("/proc/loadavg").read().strip(),
            "labels": {s: SYSTEMS[s][0] for s in SYSTEMS}, "ours_redis_built": os.environ.get("OURS_REDIS", "1") == "1"}
    try:
        if redis:
            redis.start()
        for rep in range(1, REPS + 1):
            for name in systems:  # A B C ... A B C ...: every system once per repetition
                if redis and SYSTEMS[name][3] == "redis":
                    redis.flush()
                server = Server(name)
                try:
                    for scenario in scenarios:
                        if scenario not in ONLY_SCENARIOS.get(name, [scenario]):
                            continue
                        result = measure(server, redis, scenario)
                        result.update({"rep": rep, "system": name, "scenario": scenario})
                        if name == "ours-redis" and scenario == "S2" and "record_bytes" not in meta:
                            meta["record_bytes"] = record_size(redis)
                        with open(raw_path, "a") as f:
                            f.write(json.dumps(result) + "\n")
                        log(f"rep {rep} {name:15} {scenario}: {result['rps']:9.0f} req/s  p99 {result['p99_ms'] or 0:.2f} ms  "
                            f"{result['cpu_us_per_req']:7.1f} CPU-us/req  util {result['server_cpu_util']:.2f}  "
                            f"{result['ctx_switches_per_req']:.2f} cs/req  "
                            f"errors {result['non_2xx'] + result['socket_errors']}")
                finally:
                    server.stop()
        lost = []
        for name in systems:
            # The ceilings keep no count; the two-worker apps have the hot-session row.
            if SYSTEMS[name][3] == "none" or name in ONLY_SCENARIOS:
                continue
            result = lost_updates(name, redis)
            log(f"lost updates {name:15}: kept {result['kept']} of {result['ok']}")
            lost.append(result)
        with open(os.path.join(OUT, "lost_updates.json"), "w") as f:
            json.dump(lost, f, indent=1)
        hot = []
        if os.environ.get("HOT", "1") != "0":
            hot_systems = selected("HOT_SYSTEMS", SYSTEMS) if os.environ.get("HOT_SYSTEMS") else \
                [s for s in HOT_SYSTEMS if s in systems]
            meta["hot_n"], meta["hot_warmup"] = HOT_N, HOT_WARMUP
            for rep in range(1, REPS + 1):
                for name in hot_systems:  # A B C ... A B C ..., as the scenarios
                    store = SYSTEMS[name][3]
                    if store == "none" or (store == "redis" and not redis):
                        log(f"hot session: {name} left out (no count kept, or no Redis started for this run)")
                        continue
                    if store == "redis":
                        redis.flush()
                    result = hot_session(name, rep)
                    log(f"hot session rep {rep} {name:15}: {result['rps']:9.0f} req/s  "
                        f"{result['cpu_us_per_req']:7.1f} CPU-us/req  {result['ctx_switches_per_req']:.2f} cs/req  "
                        f"kept {result['kept']} of {result['ok']}")
                    hot.append(result)
        with open(os.path.join(OUT, "hot_session.json"), "w") as f:
            json.dump(hot, f, indent=1)
    finally:
        if redis:
            redis.stop()
        meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        meta["uptime_at_end"] = open("/proc/loadavg").read().strip()
        with open(os.path.join(OUT, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
