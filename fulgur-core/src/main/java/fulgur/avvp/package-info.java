/**
 * Audio-visual video parsing (AVVP): per-segment audio and visual features of videos ({@link fulgur.avvp.AvvpVideo},
 * {@link fulgur.avvp.AvvpDataset}) read from an LLP directory ({@link fulgur.avvp.Llp}) or generated
 * ({@link fulgur.avvp.SyntheticAvvp}), the models' contract ({@link fulgur.avvp.AvvpModel}), the training loop
 * ({@link fulgur.avvp.AvvpTrainer}) and the LLP benchmark's F-scores ({@link fulgur.avvp.AvvpMetrics},
 * {@link fulgur.avvp.AvvpEvaluation}). LEAP ({@link fulgur.models.leap.LeapModel}) is the model.
 */
package fulgur.avvp;
