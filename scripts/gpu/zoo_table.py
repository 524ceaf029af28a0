#!/usr/bin/env python3
"""Rows and the table of scripts/gpu/zoo_bench.sh.

  --fulgur-run DIR ...   prints one JSON row from a fulgur training run's metrics.jsonl (median step_s of the last
                         --measure train steps, the largest peak_memory_gib)
  --table ROWS.jsonl     prints the markdown table: fulgur against the reference per architecture and batch, with
                         the time and memory ratios (one row per round where several ran)
"""
import argparse, json, statistics, sys


def fulgur_row(a):
    row = {'side': 'fulgur', 'arch': a.arch, 'batch': a.batch, 'seq_len': a.seq_len, 'impl': a.impl}
    steps, peak = [], 0.0
    try:
        with open(a.fulgur_run + '/metrics.jsonl') as f:
            for line in f:
                e = json.loads(line)
                if e.get('split') == 'train' and 'step_s' in e:
                    steps.append(e['step_s'])
                    peak = max(peak, e.get('peak_memory_gib', 0.0))
    except OSError:
        pass
    if len(steps) >= a.measure:
        row['step_ms'] = 1e3 * statistics.median(steps[-a.measure:])
        row['peak_gib'] = peak
    else:
        try:
            tail = open(a.fulgur_run + '.log').read().strip().splitlines()[-1:]
        except OSError:
            tail = []
        row['error'] = f'exit {a.rc}, {len(steps)} steps logged' + (': ' + tail[0][:200] if tail else '')
    return row


def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip().startswith('{')]
    out = ['| model | batch | fulgur step / peak memory | reference | reference step / peak memory | time ratio | memory ratio |',
           '|---|---:|---|---|---|---:|---:|']
    keys = []
    for r in rows:
        k = (r['arch'], r['batch'])
        if k not in keys:
            keys.append(k)
    fmt = lambda r: (f"{r['step_ms']:,.1f} ms / {r['peak_gib']:.2f} GiB" if 'step_ms' in r else r.get('error', '–')) if r else '–'
    how = lambda r: ' (`--cuda-graph`)' if r and r.get('impl') == 'fulgur --cuda-graph' else ''
    for arch, batch in keys:
        fs = [r for r in rows if r['side'] == 'fulgur' and (r['arch'], r['batch']) == (arch, batch)]
        ps = [r for r in rows if r['side'] == 'reference' and (r['arch'], r['batch']) == (arch, batch)]
        # fulgur may run several ways a round (eager, a captured CUDA graph): each is set against that round's
        # reference
        modes = max(1, len({r.get('impl', 'fulgur') for r in fs}))
        for i in range(max(len(fs), len(ps) * modes)):
            f = fs[i] if i < len(fs) else None
            j = i // modes
            p = ps[j] if j < len(ps) else None
            tr = mr = '–'
            if f and p and 'step_ms' in f and 'step_ms' in p:
                tr = f"{f['step_ms'] / p['step_ms']:.2f}×"
                mr = f"{f['peak_gib'] / p['peak_gib']:.2f}×"
            out.append(f"| {arch} | {batch} | {fmt(f)}{how(f)} | {p.get('impl', '–') if p else '–'} | {fmt(p)} | {tr} | {mr} |")
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fulgur-run')
    ap.add_argument('--arch')
    ap.add_argument('--batch', type=int)
    ap.add_argument('--seq-len', type=int)
    ap.add_argument('--rc', type=int, default=0)
    ap.add_argument('--impl', default='fulgur', help="how fulgur ran: 'fulgur' or 'fulgur --cuda-graph'")
    ap.add_argument('--measure', type=int, default=15)
    ap.add_argument('--table')
    a = ap.parse_args()
    if a.table:
        print(table(a.table))
    elif a.fulgur_run:
        print(json.dumps(fulgur_row(a)))
    else:
        sys.exit('give --fulgur-run or --table')


if __name__ == '__main__':
    main()
