package dev.comfyctl.testing;

import java.io.InputStream;
import java.util.Arrays;

/** A body of zeros of any size, generated as it is read: a large upload that never sits in the test's memory. */
public final class Zeros extends InputStream {
    private long left;

    public Zeros(long size) {
        this.left = size;
    }

    @Override
    public int read() {
        if (left == 0) {
            return -1;
        }
        left--;
        return 0;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) {
        if (left == 0) {
            return -1;
        }
        int n = (int) Math.min(length, left);
        Arrays.fill(buffer, offset, offset + n, (byte) 0);
        left -= n;
        return n;
    }
}
