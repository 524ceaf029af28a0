/**
 * The safetensors checkpoint format: memory-mapped, validated reading of single files
 * ({@link fulgur.io.safetensors.SafetensorsFile}) and sharded checkpoints
 * ({@link fulgur.io.safetensors.ShardedSafetensors}), both behind {@link fulgur.io.safetensors.Safetensors#open};
 * atomic writing ({@link fulgur.io.safetensors.SafetensorsWriter}). Tensors are
 * {@link fulgur.io.safetensors.SafetensorsEntry} records whose data is a zero-copy slice of the mapping.
 */
package fulgur.io.safetensors;
