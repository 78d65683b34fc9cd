package dev.comfyctl.jobs;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/** The embedded queue's fleet: this machine alone, as its last heartbeat within the time to live described it. */
public final class EmbeddedFleet implements Fleet {
    private final Duration timeToLive;
    private final Clock clock;
    private final AtomicReference<MachineInfo> self = new AtomicReference<>();

    public EmbeddedFleet(Duration timeToLive, Clock clock) {
        this.timeToLive = timeToLive;
        this.clock = clock;
    }

    @Override
    public void heartbeat(MachineInfo machine) {
        self.set(machine);
    }

    @Override
    public List<MachineInfo> machines() {
        MachineInfo machine = self.get();
        boolean alive = machine != null && machine.lastSeen().plus(timeToLive).isAfter(clock.instant());
        return alive ? List.of(machine) : List.of();
    }

    @Override
    public void close() {
        self.set(null);
    }
}
