package fulgur.tokenizer;

import java.util.Arrays;

/** A growable int array, to collect ids without boxing. */
final class IntList {
    private int[] a;
    private int n;

    IntList(int capacity) {
        a = new int[Math.max(capacity, 8)];
    }

    void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, Math.max(8, a.length * 2));
        }
        a[n++] = v;
    }

    void addAll(int[] v) {
        if (n + v.length > a.length) {
            a = Arrays.copyOf(a, Math.max(n + v.length, a.length * 2));
        }
        System.arraycopy(v, 0, a, n, v.length);
        n += v.length;
    }

    int size() {
        return n;
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
