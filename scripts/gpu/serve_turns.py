#!/usr/bin/env python3
"""Alternates paced benchmarks on one GPU, so that each is measured alone and the rounds of both interleave (machines
drift: rounds of one side back to back would compare different moments). Each child does its device work only
between taking a turn and asking for the next (EngineBench --paced, serve_peer.py --paced): it prints 'ready' on
stdout and waits for a line on stdin. The children start together (their CPU-only start-up overlaps), then the turns
go round: first child, second child, first child... A child that exits leaves the others going on alone.

At the deadline a child in its turn is stopped (its figures so far are kept) and the others get the end of their
input, which ends them (each has 10 s to end before it is stopped). JSON lines a child prints go to OUT/NAME.jsonl, its stderr to OUT/NAME.log, and one line
per turn (its length) to stdout.

  python3 serve_turns.py --deadline 150 --out OUT fulgur='java ... EngineBench --paced' peer='python3 serve_peer.py --paced'
"""
import argparse, os, queue, signal, subprocess, sys, threading, time


class Child:
    def __init__(self, name, cmd, out):
        self.name, self.turns, self.state = name, 0, None
        self.events = queue.Queue()
        self.jsonl = open(os.path.join(out, name + '.jsonl'), 'w')
        self.log = open(os.path.join(out, name + '.log'), 'w')
        self.proc = subprocess.Popen(['bash', '-c', cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip() == 'ready':
                self.events.put('ready')
            elif line.startswith('{'):
                self.jsonl.write(line)
                self.jsonl.flush()
            else:
                print(f'[{self.name}] {line.rstrip()}', flush=True)
        self.events.put('exit')

    def wait(self, deadline):
        """'ready' (at its gate), 'exit' or 'timeout'."""
        try:
            return self.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return 'timeout'

    def go(self):
        self.turns += 1
        try:
            self.proc.stdin.write('go\n')
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def end_input(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def stop(self):
        """Ends the child's whole process group: TERM, then KILL after 5 s."""
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--deadline', type=float, required=True, help='seconds from now')
    ap.add_argument('--out', required=True)
    ap.add_argument('children', nargs='+', help="NAME='command'")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    start = time.monotonic()
    deadline = start + a.deadline
    children = []
    for spec in a.children:
        name, sep, cmd = spec.partition('=')
        if not sep or not name or not cmd:
            ap.error(f"each child is NAME='command', got {spec!r}")
        children.append(Child(name, cmd, a.out))
    for c in children:
        c.state = c.wait(deadline)
    while any(c.state == 'ready' for c in children) and time.monotonic() < deadline:
        for c in children:
            if c.state != 'ready' or time.monotonic() >= deadline:
                continue
            t0 = time.monotonic()
            c.go()
            c.state = c.wait(deadline)
            print(f'turn {c.turns} of {c.name}: {time.monotonic() - t0:.1f} s' + ('' if c.state == 'ready' else f' ({c.state})'), flush=True)
            if c.state == 'timeout':
                print(f'{c.name}: stopped at the deadline, in turn {c.turns}', flush=True)
                c.stop()
    for c in children:
        c.end_input()
    for c in children:
        try:
            c.proc.wait(10)
        except subprocess.TimeoutExpired:
            c.stop()
        rc = c.proc.returncode
        print(f'{c.name}: {c.turns} turn(s), exit {rc}', flush=True)
    print(f'turns: {time.monotonic() - start:.1f} s in all', flush=True)


if __name__ == '__main__':
    main()
