package fulgur.tokenizer;

import java.util.Map;

/** The model of a tokenizer.json: turns one pre-tokenized word into ids (BPE, Unigram or WordPiece). */
sealed interface WordModel permits BpeModel, UnigramModel, WordPieceModel {

    /** The ids of one word. */
    int[] tokenize(String word);

    /** A parsed model with its vocabulary (token to id, id to token) and largest id. */
    record Parts(WordModel model, Map<String, Integer> vocab, Map<Integer, String> tokenOf, int maxId) {}
}
