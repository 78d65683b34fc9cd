package dev.comfyctl.proxy;

import io.vertx.core.MultiMap;

/**
 * The answer a client gets instead of being proxied: ComfyUI is not there and will not be soon enough.
 *
 * @param status such as 503
 * @param headers such as {@code Retry-After}
 * @param contentType of {@code body}
 * @param body what the client reads: JSON for API clients, a page for browsers
 */
public record Rejection(int status, MultiMap headers, String contentType, String body) {
}
