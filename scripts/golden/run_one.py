#!/usr/bin/env python3
"""Makes one golden fixture (or one round-trip record): run_one.py NAME OUT. Names: see FIXTURES."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402


def dispatch(name, out):
    if name in ('hgrn2', 'lightnet'):
        import ref_fla
        return ref_fla.run(name, out)
    if name == 'tnl':
        import ref_tnl
        return ref_tnl.run(out)
    if name == 'metala':
        import ref_metala
        return ref_metala.run(out)
    if name == 'llama':
        import ref_transformers
        return ref_transformers.run_llama(out)
    if name == 'minimax':
        import ref_transformers
        return ref_transformers.run_minimax(out)
    if name == 'linear-llama':
        import ref_independent
        return ref_independent.run_linear_llama(out)
    if name in ('lcsm', 'lcsm-ssm'):
        import ref_independent
        return ref_independent.run_lcsm(name, out)
    if name == 'roundtrip-minimax':
        import ref_transformers
        return ref_transformers.run_minimax_roundtrip(out)
    if name == 'roundtrip-tnl':
        import ref_tnl
        return ref_tnl.run_roundtrip(out)
    raise SystemExit('unknown fixture ' + name + ' (known: ' + ' '.join(FIXTURES) + ')')


FIXTURES = ['tnl', 'hgrn2', 'metala', 'lightnet', 'lcsm', 'lcsm-ssm', 'llama', 'linear-llama', 'minimax', 'roundtrip-minimax', 'roundtrip-tnl']

if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit('usage: run_one.py NAME OUT')
    sys.exit(gc.main_guard(lambda: dispatch(sys.argv[1], sys.argv[2])))
