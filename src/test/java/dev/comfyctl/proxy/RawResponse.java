package dev.comfyctl.proxy;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** One response read off a raw connection, for tests whose client must pipeline or misbehave: its head, and its body. */
record RawResponse(String head, String body) {
    private static final Pattern STATUS = Pattern.compile("^HTTP/1\\.[01] (\\d{3})");
    private static final Pattern LENGTH = Pattern.compile("(?i)\r\ncontent-length: *(\\d+)");

    /** A response's head only: the answer to a HEAD, a 204, or the start of a body read elsewhere. */
    static RawResponse readHead(InputStream in) throws IOException {
        DataInputStream data = new DataInputStream(in);
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
            head.write(data.readUnsignedByte());
        }
        return new RawResponse(head.toString(StandardCharsets.US_ASCII), "");
    }

    /** A whole response, its body read by its Content-Length. */
    static RawResponse read(InputStream in) throws IOException {
        RawResponse head = readHead(in);
        Matcher length = LENGTH.matcher(head.head());
        int size = length.find() ? Integer.parseInt(length.group(1)) : 0;
        return new RawResponse(head.head(), new String(in.readNBytes(size), StandardCharsets.UTF_8));
    }

    int status() {
        Matcher status = STATUS.matcher(head);
        assertThat(status.find()).as(head).isTrue();
        return Integer.parseInt(status.group(1));
    }
}
