#!/usr/bin/env python3
"""The table of scripts/gpu/serve-gpu.sh, from EngineBench's JSON lines (fulgur) and serve_peer.py's (the peer):

  python3 serve_table.py FULGUR.jsonl PEER.jsonl

One row per number of concurrent streams and round: tokens/s with the prefill and decode tokens/s of both (fulgur /
peer ratios), time to first token (fulgur p50 / p99 over its streams; the peer's streams all get theirs together),
inter-token latency, failed requests, the device's peak; then the median ratios per number of streams, the check of
the recorded decode step, the state a sequence holds after a 1K and a long prompt, the prefix state cache and the
kernels of one eager round. A missing side (absent, crashed or out of time) shows as a dash; its log says why.
"""
import json, statistics, sys


def rows(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith('{'):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def pick(rs, name, metric):
    return [r for r in rs if r['name'] == name and r['metric'] == metric]


def num(v, fmt='{:,.0f}'):
    return '–' if v is None or v != v else fmt.format(v)


def mib(b):
    return '–' if b is None else f'{b / 2**20:,.0f} MiB'


def ratio(a, b):
    return a / b if a and b else None


def throughput(fulgur, peer, out):
    eng = {(r['extra']['clients'], r['extra']['round']): r for r in pick(fulgur, 'engine-throughput', 'engine_tokens_per_s')}
    pr = {(r['extra']['batch'], r['extra']['round']): r for r in pick(peer, 'peer-throughput', 'decode_tokens_per_s')}
    if not eng and not pr:
        out.append('No throughput figures from either side (see the logs).')
        return
    first = next(iter(eng.values()), None)
    fe = first['extra'] if first else {}
    pe0 = next(iter(pr.values()), {'extra': {}})['extra']
    out.append(f"Model: {fe.get('model', pe0.get('model', '?'))}, {fe.get('dtype', pe0.get('dtype', '?'))} weights, f32 states; "
               f"{fe.get('prompt_tokens', pe0.get('prompt_tokens', '?'))}-token prompts, {fe.get('new_tokens', pe0.get('new_tokens', '?'))} new "
               f"tokens per stream, greedy. Device: {pe0.get('device', fe.get('device', '?'))}. "
               f"Peer: {pe0.get('impl', 'not measured')}.")
    out.append('')
    out.append('| streams | round | fulgur tokens/s | peer tokens/s | fulgur / peer | fulgur decode tokens/s | peer decode tokens/s | fulgur / peer '
               '| fulgur TTFT p50 / p99 | peer TTFT | fulgur ITL p50 / p99 | peer ITL | failed | device peak fulgur / peer |')
    out.append('|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---|')
    per = {}
    for key in sorted(set(eng) | set(pr)):
        f = eng[key]['extra'] if key in eng else {}
        fv = eng[key]['value'] if key in eng else None
        p = pr[key]['extra'] if key in pr else {}
        pd = pr[key]['value'] if key in pr else None
        r_all = ratio(fv, p.get('tokens_per_s'))
        r_dec = ratio(f.get('decode_tokens_per_s'), pd)
        per.setdefault(key[0], []).append((r_all, r_dec))
        out.append(f"| {key[0]} | {key[1]} | {num(fv)} | {num(p.get('tokens_per_s'))} | {num(r_all, '{:.2f}×')} "
                   f"| {num(f.get('decode_tokens_per_s'))} | {num(pd)} | {num(r_dec, '{:.2f}×')} "
                   f"| {num(f.get('ttft_p50_ms'), '{:.1f}')} / {num(f.get('ttft_p99_ms'), '{:.1f}')} ms | {num(p.get('ttft_ms'), '{:.1f}')} ms "
                   f"| {num(f.get('itl_p50_ms'), '{:.2f}')} / {num(f.get('itl_p99_ms'), '{:.2f}')} ms | {num(p.get('itl_ms'), '{:.2f}')} ms "
                   f"| {f.get('failed', '–')} | {mib(f.get('device_peak_bytes'))} / {mib(p.get('device_peak_bytes'))} |")
    out.append('')
    for n, rs in sorted(per.items()):
        a = [x for x, _ in rs if x]
        d = [y for _, y in rs if y]
        if a or d:
            out.append(f"{n} stream(s): fulgur / peer tokens/s median {num(statistics.median(a) if a else None, '{:.2f}×')}, "
                       f"decode tokens/s median {num(statistics.median(d) if d else None, '{:.2f}×')} over {max(len(a), len(d))} round(s).")
    gen = pick(fulgur, 'engine-throughput', 'unbatched_tokens_per_s')
    if gen:
        out.append(f"One unbatched fulgur Generator stream (no engine): {', '.join(num(g['value']) for g in gen)} tokens/s (rounds).")
    for c in pick(fulgur, 'engine-check', 'same_tokens_as_eager'):
        e = c['extra']
        out.append(f"Decode step recorded as a CUDA graph (up to {e['graphs']} batch sizes): {c['value']:.0f} of {e['clients']} streams began with "
                   f"the eager engine's first {e['tokens']} tokens" + ('.' if c['value'] == e['clients'] else ' -- MISMATCH.'))


def memory(fulgur, out):
    mem = pick(fulgur, 'engine-memory', 'tnl_state_bytes')
    if not mem:
        return
    out.append('')
    out.append('| prompt tokens | state bytes per sequence (fulgur) | prefill and 2 tokens |')
    out.append('|---:|---:|---:|')
    secs = {r['extra']['prompt_tokens']: r['value'] for r in pick(fulgur, 'engine-memory', 'tnl_prefill_seconds')}
    for r in mem:
        n = r['extra']['prompt_tokens']
        out.append(f"| {n:,} | {r['value']:,.0f} | {num(secs.get(n), '{:.2f}')} s |")
    vals = {r['value'] for r in mem}
    out.append('')
    out.append('State flat in the context length: ' + ('yes (identical)' if len(vals) == 1 else 'NO: ' + ', '.join(f'{v:,.0f}' for v in sorted(vals))) + '.')


def ttft(fulgur, out):
    without = pick(fulgur, 'engine-ttft', 'ttft_without_cache_ms')
    with_ = pick(fulgur, 'engine-ttft', 'ttft_with_cache_ms')
    if not (without and with_):
        return
    out.append('')
    out.append(f"| round | TTFT of a repeated {without[0]['extra']['prompt_tokens']:,}-token prompt without the state cache | with it | speedup |")
    out.append('|---:|---:|---:|---:|')
    for a, b in zip(without, with_):
        out.append(f"| {a['extra']['round']} | {a['value']:.1f} ms | {b['value']:.2f} ms | {a['value'] / b['value']:.0f}× |")


def kernels(fulgur, out):
    ks = sorted([r for r in fulgur if r['name'] == 'engine-kernels'], key=lambda r: -r['value'])
    if not ks:
        return
    total = sum(k['value'] for k in ks)
    e = ks[0]['extra']
    out.append('')
    out.append(f"Kernels of one eager round ({e['clients']} streams: the prefill, then {e['decode_steps']} decode steps), {total:.1f} ms of device time:")
    out.append('')
    out.append('| kernel | launches | device time | share |')
    out.append('|---|---:|---:|---:|')
    for k in ks[:14]:
        out.append(f"| `{k['metric']}` | {k['extra']['launches']} | {k['value']:.3f} ms | {100 * k['value'] / total:.1f}% |")


def table(fulgur, peer):
    out = []
    throughput(fulgur, peer, out)
    memory(fulgur, out)
    ttft(fulgur, out)
    kernels(fulgur, out)
    return '\n'.join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: serve_table.py FULGUR.jsonl PEER.jsonl')
    print(table(rows(sys.argv[1]), rows(sys.argv[2])))


if __name__ == '__main__':
    main()
