/*
 * pthread_mutex.c: the four mutex functions Check 0.15.2 needs when built without pthreads
 * (MSVC and clang-cl). The release tarball lists lib/pthread_mutex.c in its CMake build but
 * does not ship it (a known upstream omission), so CMake stops with "Cannot find source file".
 * cmake/CosockCheck.cmake copies this file into the unpacked source before configuring it.
 *
 * The type comes from Check's lib/libcompat.h:
 *     typedef struct { INIT_ONCE init; HANDLE mutex; } pthread_mutex_t;
 *     #define PTHREAD_MUTEX_INITIALIZER { INIT_ONCE_STATIC_INIT, NULL }
 * A statically initialised mutex creates its Win32 mutex on first use, exactly once, even
 * when two threads race to lock it first: that is what the INIT_ONCE is for.
 *
 * Return values follow pthreads: 0 on success, an errno value on failure.
 */
#include "libcompat.h"

#include <errno.h>

static BOOL CALLBACK create_mutex_once(PINIT_ONCE once, PVOID param, PVOID *context)
{
    pthread_mutex_t *mutex = (pthread_mutex_t *)param;

    (void)once;
    (void)context;
    mutex->mutex = CreateMutexW(NULL, FALSE, NULL);
    return mutex->mutex != NULL;
}

/* Create the Win32 mutex behind `mutex` if this is its first use. */
static int ensure_created(pthread_mutex_t *mutex)
{
    if (!InitOnceExecuteOnce(&mutex->init, create_mutex_once, mutex, NULL))
        return ENOMEM;
    return 0;
}

int pthread_mutex_init(pthread_mutex_t *mutex, pthread_mutexattr_t *attr)
{
    (void)attr;
    InitOnceInitialize(&mutex->init);
    mutex->mutex = NULL;
    return ensure_created(mutex);
}

int pthread_mutex_destroy(pthread_mutex_t *mutex)
{
    if (mutex->mutex != NULL && !CloseHandle(mutex->mutex))
        return EINVAL;
    mutex->mutex = NULL;
    InitOnceInitialize(&mutex->init);
    return 0;
}

int pthread_mutex_lock(pthread_mutex_t *mutex)
{
    int err = ensure_created(mutex);

    if (err != 0)
        return err;
    return WaitForSingleObject(mutex->mutex, INFINITE) == WAIT_OBJECT_0 ? 0 : EINVAL;
}

int pthread_mutex_unlock(pthread_mutex_t *mutex)
{
    if (mutex->mutex == NULL)
        return EPERM;
    return ReleaseMutex(mutex->mutex) ? 0 : EPERM;
}
