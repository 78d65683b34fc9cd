package dev.comfyctl.web;

import io.vertx.core.Handler;
import io.vertx.core.http.Cookie;
import io.vertx.core.http.CookieSameSite;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Optional;
import java.util.Set;

/**
 * The first handler of the daemon: who may use what.
 * <ul>
 *   <li>comfyctl's own paths (control API, {@code /manager}, {@code /comfyctl/...}, {@code /metrics}) need the
 *   manager token when one is configured: {@code Authorization: Bearer}, {@code ?token=}, or the cookie a
 *   valid {@code ?token=} sets, so that a browser keeps working after its first visit;</li>
 *   <li>a request that changes something (POST, PUT, PATCH, DELETE) on those paths is refused when its
 *   {@code Origin} is another site than its {@code Host}, so no web page can drive comfyctl behind the user's back;</li>
 *   <li>everything else goes to ComfyUI, behind the optional proxy authentication (token or basic).</li>
 * </ul>
 * A missing or wrong credential is 401 (with {@code WWW-Authenticate} for basic), never an error.
 */
public final class AccessGuard implements Handler<RoutingContext> {
    static final String COOKIE = "comfyctl_token";
    /**
     * comfyctl's own exact paths; keep in step with the routes of ControlRoutes, ScheduleRoutes, ManagerPage,
     * DaemonEvents, HealthRoutes and /metrics.
     */
    private static final Set<String> OWN_PATHS = Set.of("/manager", "/manager/", "/manager/status", "/manager/start",
            "/manager/stop", "/manager/restart", "/manager/schedule", "/manager/schedule/enable",
            "/manager/schedule/disable", "/manager/schedule/force-restart", "/manager/events", "/metrics",
            "/health", "/ready", "/status", "/manager/update");
    private static final String OWN_PREFIX = "/comfyctl/";
    private static final Set<HttpMethod> SAFE = Set.of(HttpMethod.GET, HttpMethod.HEAD, HttpMethod.OPTIONS);

    public enum ProxyAuth { NONE, TOKEN, BASIC }

    private final Optional<byte[]> token;
    private final ProxyAuth proxyAuth;
    private final Optional<byte[]> basicCredentials;

    /**
     * @param basicUserAndPassword {@code user:password}, used when proxyAuth is BASIC
     */
    public AccessGuard(Optional<String> token, ProxyAuth proxyAuth, Optional<String> basicUserAndPassword) {
        this.token = token.map(t -> t.getBytes(StandardCharsets.UTF_8));
        this.proxyAuth = proxyAuth;
        this.basicCredentials = basicUserAndPassword.map(c -> c.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether {@link #inFrontOf} hands a request for {@code path} to the proxy at once, without a check. */
    public boolean forwardsUnchecked(String path) {
        return proxyAuth == ProxyAuth.NONE && !isOwn(path);
    }

    static boolean isOwn(String path) {
        return OWN_PATHS.contains(path) || path.startsWith(OWN_PREFIX) || isJobs(path);
    }

    /** The job queue (JobRoutes): {@code /jobs}, {@code /jobs/...} and {@code /fleet}; ComfyUI's {@code /api/jobs} is not ours. */
    private static boolean isJobs(String path) {
        return path.equals("/jobs") || path.startsWith("/jobs/") || path.equals("/fleet");
    }

    /**
     * The daemon's request handler: comfyctl's own paths go through {@code router} (which has this guard as its
     * first route), everything else straight to {@code proxy} behind the proxy authentication, without a route
     * match or a routing context per proxied request.
     */
    public Handler<HttpServerRequest> inFrontOf(Router router, Handler<HttpServerRequest> proxy) {
        return request -> {
            if (isOwn(request.path())) {
                router.handle(request);
            } else if (proxyAuthPassed(request)) {
                proxy.handle(request);
            }
        };
    }

    @Override
    public void handle(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        if (!isOwn(request.path())) {
            if (proxyAuthPassed(request)) {
                ctx.next();
            }
        } else if (!SAFE.contains(request.method()) && crossOrigin(request)) {
            refuse(request, 403, "Origin " + request.getHeader(HttpHeaders.ORIGIN) + " may not change comfyctl", null);
        } else if (token.isPresent() && !tokenPresented(request)) {
            refuse(request, 401, "comfyctl needs its token here: Authorization: Bearer <MANAGER_TOKEN>, or ?token=", null);
        } else {
            ctx.next();
        }
    }

    /** Whether a request for ComfyUI may pass; when not, it has been answered 401. */
    private boolean proxyAuthPassed(HttpServerRequest request) {
        switch (proxyAuth) {
            case TOKEN -> {
                if (tokenPresented(request)) {
                    return true;
                }
                refuse(request, 401, "ComfyUI behind comfyctl needs the token: open it once as /?token=<MANAGER_TOKEN>", null);
                return false;
            }
            case BASIC -> {
                if (basicPresented(request)) {
                    return true;
                }
                refuse(request, 401, "ComfyUI behind comfyctl needs a user name and password", "Basic realm=\"ComfyUI\", charset=\"UTF-8\"");
                return false;
            }
            default -> {
                return true;
            }
        }
    }

    private boolean tokenPresented(HttpServerRequest request) {
        String authorization = request.getHeader(HttpHeaders.AUTHORIZATION);
        if (authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                && matches(token, authorization.substring(7).strip())) {
            return true;
        }
        String query = request.getParam("token");
        if (query != null && matches(token, query)) {
            request.response().addCookie(Cookie.cookie(COOKIE, query).setPath("/").setHttpOnly(true)
                    .setSameSite(CookieSameSite.STRICT));
            return true;
        }
        Cookie cookie = request.getCookie(COOKIE);
        return cookie != null && matches(token, cookie.getValue());
    }

    private boolean basicPresented(HttpServerRequest request) {
        String authorization = request.getHeader(HttpHeaders.AUTHORIZATION);
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return false;
        }
        try {
            byte[] presented = Base64.getDecoder().decode(authorization.substring(6).strip());
            return basicCredentials.isPresent() && MessageDigest.isEqual(basicCredentials.get(), presented);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static boolean matches(Optional<byte[]> expected, String presented) {
        return expected.isPresent() && MessageDigest.isEqual(expected.get(), presented.getBytes(StandardCharsets.UTF_8));
    }

    /** An Origin that names another host and port than the Host the request was sent to. */
    private static boolean crossOrigin(HttpServerRequest request) {
        String origin = request.getHeader(HttpHeaders.ORIGIN);
        if (origin == null) {
            return false;
        }
        if (origin.equals("null") || request.authority() == null) {
            return true;
        }
        try {
            URI uri = URI.create(origin);
            int port = uri.getPort() > 0 ? uri.getPort() : uri.getScheme().equals("https") ? 443 : 80;
            int hostPort = request.authority().port() > 0 ? request.authority().port() : request.isSSL() ? 443 : 80;
            return !(uri.getHost() != null && uri.getHost().equalsIgnoreCase(request.authority().host()) && port == hostPort);
        } catch (IllegalArgumentException e) {
            return true;
        }
    }

    private static void refuse(HttpServerRequest request, int status, String message, String challenge) {
        if (challenge != null) {
            request.response().putHeader("WWW-Authenticate", challenge);
        }
        request.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                .end(new JsonObject().put("error", message).encode());
    }
}
