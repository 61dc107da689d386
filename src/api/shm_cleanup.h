/* Shared-memory segments of dead processes. A rank killed by SIGKILL cannot remove its segments
 * (libfabric shm: /dev/shm/<pid>:<n>:<m>; the transport's fast path: /dev/shm/nsccl-fp-<pid>-<n>),
 * so the survivors do it when they close a communicator. */
#ifndef NSCCL_API_SHM_CLEANUP_H
#define NSCCL_API_SHM_CLEANUP_H

/* Remove every /dev/shm segment named for a process id that no longer exists (kill(pid, 0) fails
 * with ESRCH, it is a zombie, or it is inside exit), owned by this user, in exactly one of the two formats above. Never
 * touches a segment whose process is alive, another user's, or a name of another shape. Returns how many were removed.
 */
int nsccl_shm_remove_dead(void);

#endif
