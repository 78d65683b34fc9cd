/**
 * The vocabulary of comfyctl's lifecycle events: what kinds there are ({@link dev.comfyctl.events.EventType}),
 * one event ({@link dev.comfyctl.events.Event}) and where they go ({@link dev.comfyctl.events.Events}).
 *
 * <p>Depends on no other comfyctl package, so that every package may report events (the supervisor and the
 * proxy) or name their types (the config, for {@code WEBHOOK_EVENTS}) without knowing who writes them down;
 * the event log and the webhooks live in {@code telemetry}.
 */
package dev.comfyctl.events;
