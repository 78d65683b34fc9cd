package dev.comfyctl.config;

import java.util.List;

/**
 * What a browser tab nobody looks at sends: WebSocket reconnects, and the polling of ComfyUI's web UI and
 * ComfyUI-Manager. None of it is a person asking for work, so none of it may keep the GPU awake or wake it.
 */
final class PassiveDefaults {
    static final List<String> PATTERNS = List.of(
            "WEBSOCKET /ws", "WEBSOCKET /api/ws",
            "GET /queue", "GET /api/queue", "GET /prompt", "GET /api/prompt",
            "GET /system_stats", "GET /api/system_stats", "GET /history*", "GET /api/history*",
            "GET /manager/queue/status", "GET /api/manager/queue/status",
            "* /internal/logs*", "* /api/internal/logs*",
            "HEAD *", "OPTIONS *");

    private PassiveDefaults() {
    }
}
