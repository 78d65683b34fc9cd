package dev.comfyctl.comfy;

import java.time.Duration;

/**
 * One readiness probe ({@code GET /system_stats}).
 *
 * @param ok ComfyUI answered 200
 * @param latency time until the answer or the failure
 * @param error why it is not ok (status or transport failure); empty when ok
 */
public record Health(boolean ok, Duration latency, String error) {

    static Health up(Duration latency) {
        return new Health(true, latency, "");
    }

    static Health down(Duration latency, String error) {
        return new Health(false, latency, error);
    }
}
