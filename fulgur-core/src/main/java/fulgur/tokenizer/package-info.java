/**
 * Tokenizers: the {@link fulgur.tokenizer.Tokenizer} interface, a byte tokenizer
 * ({@link fulgur.tokenizer.ByteTokenizer}), Hugging Face {@code tokenizer.json} tokenizers
 * ({@link fulgur.tokenizer.HfTokenizer}: BPE in the byte-level (GPT-2, Llama 3, Qwen) and byte-fallback styles, Unigram,
 * WordPiece) and SentencePiece {@code tokenizer.model} files ({@link fulgur.tokenizer.SentencePieceTokenizer}: Unigram
 * and BPE, as the official TransNormerLLM and Llama 2 tokenizers). {@link fulgur.tokenizer.Tokenizers} opens any of
 * them; {@link fulgur.tokenizer.TokenizerFiles} names the files a model directory carries.
 */
package fulgur.tokenizer;
