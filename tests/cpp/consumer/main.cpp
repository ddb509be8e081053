// tests/cpp/consumer/main.cpp - a C++ program built against the installed cosock.
#ifdef CONSUMER_HAS_SOCK
#  include <sock/sock.h>
#else
#  include <co/co.h>
#endif

#include <stdio.h>

namespace {

struct counter {
  co_task_t task;  // first
  int       i;
};

co_state_t counter_step(co_task_t *t)
{
  counter *c = reinterpret_cast<counter *>(t);
  CO_BEGIN(t);
  for (c->i = 0; c->i < 3; c->i++)
    CO_YIELD(t);
  CO_END(t);
}

}  // namespace

int main()
{
  counter c{};
  int steps = 0;
  co_task_init(&c.task, counter_step, nullptr);
  while (co_resume(&c.task) != CO_DONE)
    steps++;
  if (steps != 3)
    return 1;
#ifdef CONSUMER_HAS_SOCK
  sock_runtime_t *rt = nullptr;
  if (sock_runtime_create(&rt, nullptr) != CO_OK)
    return 2;
  sock_t *listener = nullptr;
  if (sock_listen(rt, "127.0.0.1", 0, 4, &listener) != CO_OK)
    return 3;
  sock_close(listener);
  sock_runtime_shutdown(rt);
  printf("consumer: task ran 3 steps; sock runtime and listener OK (CO_DEBUG=%d)\n", CO_DEBUG);
#else
  printf("consumer: task ran 3 steps (CO_DEBUG=%d)\n", CO_DEBUG);
#endif
  return 0;
}
