package dev.comfyctl.proxy;

import io.vertx.core.net.SocketAddress;

import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;

/**
 * One ComfyUI the proxy can send requests to.
 *
 * @param name the instance's name, as the sticky-session cookie carries it
 * @param address where its ComfyUI listens
 * @param policy what its requests must pass first (its wake on request and idle clock)
 * @param ready whether it serves right now and should take new prompts (not while a scheduled restart drains it);
 *     prompts go to ready backends first
 * @param queued its prompts running and pending, read from ComfyUI; may block, is called off the event loop,
 *     and throws when ComfyUI does not answer
 */
public record Backend(String name, SocketAddress address, ProxyPolicy policy, BooleanSupplier ready, IntSupplier queued) {

    /** A backend that is always up, whose load is only what the proxy sent it. */
    public static Backend alwaysReady(String name, SocketAddress address, ProxyPolicy policy) {
        return new Backend(name, address, policy, () -> true, () -> 0);
    }
}
