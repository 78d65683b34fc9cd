package dev.comfyctl.jobs;

import java.util.List;

/**
 * The machines working one queue, for {@code comfyctl fleet}: each daemon sends a heartbeat now and then; a machine
 * not heard from within the time to live is gone from the list. Blocking, like {@link JobStore}.
 */
public interface Fleet extends AutoCloseable {

    /** Records this machine as alive now. */
    void heartbeat(MachineInfo machine);

    /** The machines alive, by id. */
    List<MachineInfo> machines();

    @Override
    void close();
}
