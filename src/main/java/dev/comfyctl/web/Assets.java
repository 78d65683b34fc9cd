package dev.comfyctl.web;

import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The page's static files, read once from {@code src/main/resources/web/} into memory (they are a few
 * kilobytes). Each is linked as {@code /comfyctl/assets/NAME?v=HASH}: a request with the current hash may be
 * cached for good, because a new build links a new hash; any other request must revalidate its ETag.
 */
final class Assets {
    static final String PREFIX = "/comfyctl/assets/";
    private static final String FOREVER = "public, max-age=31536000, immutable";
    private static final Map<String, String> TYPES = Map.of(
            "css", "text/css; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "svg", "image/svg+xml");

    private record Asset(Buffer body, String contentType, String hash) {
    }

    private final Map<String, Asset> assets = new LinkedHashMap<>();

    /** @throws IllegalStateException when a resource is missing or of a type not served */
    Assets(String... names) {
        for (String name : names) {
            String extension = name.substring(name.lastIndexOf('.') + 1);
            String type = TYPES.get(extension);
            if (type == null) {
                throw new IllegalStateException("no content type for asset " + name);
            }
            byte[] bytes = resource("web/" + name);
            assets.put(name, new Asset(Buffer.buffer(bytes), type, sha256(bytes).substring(0, 16)));
        }
    }

    /** The path and query the page links {@code name} with. */
    String url(String name) {
        Asset asset = assets.get(name);
        if (asset == null) {
            throw new IllegalArgumentException("unknown asset " + name);
        }
        return PREFIX + name + "?v=" + asset.hash();
    }

    void serve(RoutingContext ctx) {
        Asset asset = assets.get(ctx.pathParam("name"));
        if (asset == null) {
            ctx.response().setStatusCode(404).putHeader("Content-Type", "text/plain; charset=utf-8").end("no such asset\n");
            return;
        }
        String etag = "\"" + asset.hash() + "\"";
        ctx.response()
                .putHeader("ETag", etag)
                .putHeader("Cache-Control", asset.hash().equals(ctx.request().getParam("v")) ? FOREVER : "no-cache")
                .putHeader("X-Content-Type-Options", "nosniff");
        if (etag.equals(ctx.request().getHeader("If-None-Match"))) {
            ctx.response().setStatusCode(304).end();
            return;
        }
        ctx.response().putHeader("Content-Type", asset.contentType()).end(asset.body());
    }

    static byte[] resource(String path) {
        try (InputStream in = Assets.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("resource " + path + " is missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read resource " + path, e);
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }
}
