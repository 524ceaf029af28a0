/**
 * Serving: the {@link fulgur.serve.Engine} that batches requests over recurrent states, and what flows through it.
 * The engine itself lives in {@code fulgur.serve.engine}, the OpenAI-compatible HTTP server in {@code fulgur.serve.http}.
 */
package fulgur.serve;
