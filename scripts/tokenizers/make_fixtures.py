#!/usr/bin/env python3
"""Makes the tokenizer parity fixtures that fulgur's Java tokenizers are tested against.

Trains tiny tokenizers on the repository's Shakespeare excerpt with the reference libraries -- SentencePiece
Unigram and BPE models (tokenizer.model, with and without byte fallback, nmt_nfkc and identity normalization),
Hugging Face Unigram and WordPiece tokenizers (tokenizer.json), and the nmt_nfkc Unigram model converted to
tokenizer.json by tokenizers' converter where its dependencies are installed (Precompiled normalizer) -- then encodes a list of tricky strings with
each, and packs the model files and the expected ids into one zip:

    fulgur-core/src/test/resources/fulgur/tokenizer/parity-fixtures.zip
        cases.json              {"strings": [...], "tokenizers": {NAME: {"file": ..., "ids": [[...], ...],
                                 "decoded": [...]}}, "versions": {...}}
        NAME/tokenizer.model    (SentencePiece) or NAME/tokenizer.json (Hugging Face)

Needs python3 with `tokenizers` (0.23) and `sentencepiece` (0.2); no network. Run from anywhere:

    python3 scripts/tokenizers/make_fixtures.py [--out FILE]

(--out writes the zip elsewhere, e.g. on a machine whose output is copied back; put it at the path above.)

The Java test fulgur.tokenizer.TokenizerParityTest reads the zip.
"""
import argparse
import json
import os
import sys
import tempfile
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEXT = os.path.join(ROOT, "fulgur-core", "src", "test", "resources", "fulgur", "text", "shakespeare.txt")
OUT = os.path.join(ROOT, "fulgur-core", "src", "test", "resources", "fulgur", "tokenizer", "parity-fixtures.zip")
LIMIT = 2 * 1024 * 1024

STRINGS = [
    "Hello, world!",
    "ROMEO: O, she doth teach the torches to burn bright!",
    "  leading, internal    and trailing spaces   ",
    "tabs\tand\nnewlines\n\nand\r\ncarriage returns",
    "digits 1234567890, 3.14159 and 2026-12-06",
    "don't can't won't I'm you're we'll",
    "naïve café résumé — “curly quotes” and ‘apostrophes’…",
    "ﬁne ligatures, ＦＵＬＬＷＩＤＴＨ letters, ①②③ and ½",
    "emoji 🙂👍🏽 and a family 👨‍👩‍👧",
    "中文字符 and 日本語のテキスト",
    "Ελληνικά και русский текст",
    "unseen letters: ǅ ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "no\u00a0break\u2003em\u3000ideographic spaces",
    "control\u0007bell, zero\u200bwidth and soft\u00adhyphen",
    "a",
    " ",
    "",
    "x" * 120,
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n",
]


def train_sentencepiece(name, workdir, **options):
    import sentencepiece as spm

    prefix = os.path.join(workdir, name)
    spm.SentencePieceTrainer.train(input=TEXT, model_prefix=prefix, num_threads=2, minloglevel=2, **options)
    return prefix + ".model"


def sentencepiece_cases(path):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=path)
    ids = [sp.encode(s, out_type=int) for s in STRINGS]
    return ids, [sp.decode(i) for i in ids]


def hf_unigram(path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>")
    tok.train([TEXT], trainer)
    tok.save(path)
    return tok


def hf_wordpiece(path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train([TEXT], trainer)
    tok.save(path)
    return tok


def hf_from_sentencepiece(spm_path, path):
    """The SentencePiece Unigram model converted to tokenizer.json (Precompiled normalizer); None where the
    converter's dependencies (protobuf for sentencepiece_model_pb2) are missing."""
    try:
        from tokenizers.implementations import SentencePieceUnigramTokenizer

        tok = SentencePieceUnigramTokenizer.from_spm(spm_path)
    except Exception as e:  # noqa: BLE001 - any missing piece of the converter skips this one fixture
        print(f"skipping hf-unigram-precompiled: {e}", file=sys.stderr)
        return None
    tok.save(path)
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def hf_cases(tok):
    ids = [tok.encode(s, add_special_tokens=False).ids for s in STRINGS]
    return ids, [tok.decode(i, skip_special_tokens=False) for i in ids]


def main():
    parser = argparse.ArgumentParser(description="Makes fulgur's tokenizer parity fixtures with tokenizers and sentencepiece.")
    parser.add_argument("--out", default=OUT, help="the zip to write (default: %(default)s)")
    out = os.path.abspath(parser.parse_args().out)

    import sentencepiece
    import tokenizers

    cases = {"strings": STRINGS, "tokenizers": {}, "versions": {"tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__}}
    files = {}
    with tempfile.TemporaryDirectory() as work:
        sentencepiece_models = {
            # the official TransNormerLLM / T5 style: NFKC rules, extra whitespace removed, unknown characters as <unk>
            "sp-unigram-nfkc": dict(model_type="unigram", vocab_size=800, character_coverage=0.9995, user_defined_symbols=["<sep>"]),
            "sp-bpe-nfkc": dict(model_type="bpe", vocab_size=600, character_coverage=0.9995),
            # the Llama 2 style: no normalization rules, whitespace kept, digits split, unknown characters as bytes
            "sp-unigram-bytes": dict(model_type="unigram", vocab_size=800, byte_fallback=True, normalization_rule_name="identity",
                                     remove_extra_whitespaces=False, character_coverage=0.9995),
            "sp-bpe-bytes": dict(model_type="bpe", vocab_size=800, byte_fallback=True, normalization_rule_name="identity",
                                 remove_extra_whitespaces=False, split_digits=True, character_coverage=0.9995),
        }
        for name, options in sentencepiece_models.items():
            path = train_sentencepiece(name, work, **options)
            ids, decoded = sentencepiece_cases(path)
            entry = name + "/tokenizer.model"
            files[entry] = path
            cases["tokenizers"][name] = {"file": entry, "ids": ids, "decoded": decoded}
        converted = hf_from_sentencepiece(files["sp-unigram-nfkc/tokenizer.model"], os.path.join(work, "hf-unigram-precompiled.json"))
        if converted is not None:
            ids, decoded = hf_cases(converted)
            files["hf-unigram-precompiled/tokenizer.json"] = os.path.join(work, "hf-unigram-precompiled.json")
            cases["tokenizers"]["hf-unigram-precompiled"] = {"file": "hf-unigram-precompiled/tokenizer.json", "ids": ids, "decoded": decoded}
        for name, make in (("hf-unigram", hf_unigram), ("hf-wordpiece", hf_wordpiece)):
            path = os.path.join(work, name + ".json")
            ids, decoded = hf_cases(make(path))
            entry = name + "/tokenizer.json"
            files[entry] = path
            cases["tokenizers"][name] = {"file": entry, "ids": ids, "decoded": decoded}
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("cases.json", json.dumps(cases, ensure_ascii=False, indent=1))
            for entry, path in sorted(files.items()):
                z.write(path, entry)
    size = os.path.getsize(out)
    if size > LIMIT:
        sys.exit(f"{out} is {size} bytes, more than the {LIMIT} allowed")
    print(f"wrote {out} ({size} bytes): {', '.join(cases['tokenizers'])}")


if __name__ == "__main__":
    main()
