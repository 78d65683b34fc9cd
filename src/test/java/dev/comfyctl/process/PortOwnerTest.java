package dev.comfyctl.process;

import static dev.comfyctl.process.Spawn.PATIENCE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PortOwnerTest {

    private static final String LISTENER = "import socket, sys, time\n"
            + "s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
            + "s.bind((sys.argv[1], 0)); s.listen()\n"
            + "print(s.getsockname()[1], flush=True); time.sleep(60)\n";

    @TempDir
    Path dir;
    private Spawn spawn;

    @BeforeEach
    void setUp() {
        spawn = new Spawn(dir);
    }

    @AfterEach
    void tearDown() {
        spawn.close();
    }

    @Test
    void findsTheProcessListeningOnAnIpv4Port() {
        RunningProcess listener = listen("127.0.0.1");
        int port = Integer.parseInt(Spawn.firstLine(listener));

        assertThat(PortOwner.find(port)).hasValueSatisfying(owner -> {
            assertThat(owner.pid()).isEqualTo(listener.pid());
            assertThat(owner.arguments()).last().isEqualTo("127.0.0.1");
        });
        assertThat(PortOwner.isFree("127.0.0.1", port)).isFalse();
    }

    @Test
    void findsTheProcessListeningOnAnIpv6Port() throws IOException {
        RunningProcess listener = listen("::");
        int port = Integer.parseInt(Spawn.firstLine(listener));

        assertThat(PortOwner.find(port)).map(ProcessInfo::pid).hasValue(listener.pid());
        assertThat(PortOwner.isFree("0.0.0.0", port)).as("a dual-stack listener holds IPv4 too").isFalse();
    }

    @Test
    void portIsFreeAndOwnerlessOnceTheListenerIsStopped() {
        RunningProcess listener = listen("127.0.0.1");
        int port = Integer.parseInt(Spawn.firstLine(listener));

        listener.stop(PATIENCE);

        await().atMost(PATIENCE).until(() -> PortOwner.isFree("127.0.0.1", port));
        assertThat(PortOwner.find(port)).isEmpty();
    }

    @Test
    void findsThisJvmForItsOwnServerSocket() throws IOException {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(PortOwner.find(server.getLocalPort())).map(ProcessInfo::pid).hasValue(ProcessHandle.current().pid());
        }
    }

    @Test
    void aConnectedClientSocketDoesNotCountAsTheOwner() throws IOException {
        RunningProcess listener = listen("127.0.0.1");
        int port = Integer.parseInt(Spawn.firstLine(listener));

        try (Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", port));
            assertThat(PortOwner.find(port)).map(ProcessInfo::pid).hasValue(listener.pid());
        }
    }

    @Test
    void portOutOfRangeIsRejected() {
        assertThatThrownBy(() -> PortOwner.find(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("port 0 outside 1..65535");
    }

    @Test
    void unresolvableHostIsRejected() {
        assertThatThrownBy(() -> PortOwner.isFree("no-such-host.invalid", 8188)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("Cannot resolve host no-such-host.invalid");
    }

    private RunningProcess listen(String host) {
        return spawn.launch(List.of("python3", "-c", LISTENER, host), dir);
    }
}
