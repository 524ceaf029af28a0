/**
 * Training data independent of tensors: token streams ({@link fulgur.data.TokenStream}) from text corpora
 * ({@link fulgur.data.TextCorpus}) or memory-mapped token shards ({@link fulgur.data.TokenShards}), batches
 * ({@link fulgur.data.Batch}) cut by a resumable sampler ({@link fulgur.data.PackedSequenceSampler}), and the MQAR
 * synthetic recall task ({@link fulgur.data.Mqar}).
 */
package fulgur.data;
