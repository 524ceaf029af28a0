/**
 * Tokenizers: the {@link fulgur.tokenizer.Tokenizer} interface, a byte tokenizer
 * ({@link fulgur.tokenizer.ByteTokenizer}) and Hugging Face {@code tokenizer.json} BPE tokenizers
 * ({@link fulgur.tokenizer.HfTokenizer}): byte-level (GPT-2, Llama 3, Qwen) and byte-fallback (Llama 2) styles.
 */
package fulgur.tokenizer;
