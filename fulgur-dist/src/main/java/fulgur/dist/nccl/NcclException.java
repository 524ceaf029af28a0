package fulgur.dist.nccl;

import fulgur.dist.DistException;

/** An NCCL call returned an error: names the call, the ncclResult_t code and NCCL's own text. */
public final class NcclException extends DistException {
    private final int code;

    public NcclException(String call, int code, String text) {
        super(call + " failed: " + Nccl.resultName(code) + " (" + code + "): " + text);
        this.code = code;
    }

    public int code() {
        return code;
    }
}
