/**
 * Files: atomic writes ({@link fulgur.io.AtomicFiles}), the shared JSON mapper ({@link fulgur.io.Json}), NumPy
 * {@code .npy} arrays ({@link fulgur.io.Npy}) and the exception for malformed files
 * ({@link fulgur.io.MalformedFileException}), whose messages name the file.
 */
package fulgur.io;
