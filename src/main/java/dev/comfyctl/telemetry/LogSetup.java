package dev.comfyctl.telemetry;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * Logback's configuration, in code: a {@code logback.xml} pulls in Joran and the JDK's XML parser, about 600
 * classes that cost every command start time and the daemon resident memory. comfyctl's own loggers log at
 * {@code COMFYCTL_LOG_LEVEL} (a system property, else the environment, else INFO); libraries only their warnings.
 */
public final class LogSetup extends ContextAwareBase implements Configurator {
    public static final String LEVEL_PROPERTY = "COMFYCTL_LOG_LEVEL";
    private static final String PATTERN = "%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level %logger{0} - %msg%n";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> stderr = new ConsoleAppender<>();
        stderr.setContext(context);
        stderr.setName("STDERR");
        stderr.setTarget("System.err");
        stderr.setEncoder(encoder);
        stderr.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.WARN);
        root.addAppender(stderr);
        context.getLogger("dev.comfyctl").setLevel(Level.toLevel(level(), Level.INFO));
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    private static String level() {
        String property = System.getProperty(LEVEL_PROPERTY);
        return property != null ? property : System.getenv().getOrDefault(LEVEL_PROPERTY, "INFO");
    }
}
