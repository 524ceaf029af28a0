/**
 * Evaluation of trained language models: streaming perplexity and bits per byte over files of any length
 * ({@link fulgur.eval.Perplexity}), multiple choice by log-likelihood ({@link fulgur.eval.MultipleChoice}), passkey
 * retrieval over long contexts ({@link fulgur.eval.Passkey}) and MQAR recall of a trained checkpoint
 * ({@link fulgur.eval.MqarRecall}).
 */
package fulgur.eval;
