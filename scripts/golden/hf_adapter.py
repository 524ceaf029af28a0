"""The adapter that drives a Hugging Face-style causal LM (forward(input_ids, past_key_values, use_cache, labels)) for
golden_common.run_fixture: fla's HGRN2/LightNet, transformers' Llama and MiniMax, the official TransNormerLLM and
MetaLA classes (the last two override the cache plumbing)."""
import torch


def from_pretrained(cls, path, **kw):
    """cls.from_pretrained in f32 across transformers versions (dtype= since 4.56, torch_dtype= before)."""
    for key in ('dtype', 'torch_dtype'):
        try:
            return cls.from_pretrained(path, **{key: torch.float32}, **kw)
        except TypeError:
            continue
    return cls.from_pretrained(path, **kw)


class HfAdapter:
    def __init__(self, model, device, extra=None):
        self.model = model
        self.device = device
        self.extra = extra or {}

    def _call(self, model, ids, **kw):
        kw.setdefault('return_dict', True)
        return model(input_ids=ids, **self.extra, **kw)

    def save(self, ckpt):
        self.model.save_pretrained(ckpt)

    def prefill(self, ids):
        out = self._call(self.model, ids, use_cache=True)
        return out.logits.float(), out.past_key_values

    def step(self, tok, cache, pos):
        out = self._call(self.model, tok, past_key_values=cache, use_cache=True)
        return out.logits.float(), out.past_key_values

    def train_logits(self, ids):
        return self._call(self.model, ids, use_cache=False).logits.float()

    def loss(self, ids):
        return self._call(self.model, ids, use_cache=False, labels=ids).loss

    def reload(self, ckpt, ids):
        m = from_pretrained(type(self.model), ckpt).to(self.device)
        m.eval()
        with torch.no_grad():
            logits, _ = HfAdapter(m, self.device, self.extra).prefill(ids)
        return logits
