// HikariCP's getConnection()+close() cycle on a stub DataSource (no database), at 1, 2 and 8
// threads on a pool of 32 — the reference figure for bench_pool_overhead. Prints JSON lines.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

public class HikariStubBench {
  // A connection that answers every call with a harmless default.
  static Connection stubConnection() {
    InvocationHandler h = (proxy, method, args) -> {
      switch (method.getName()) {
        case "isClosed": case "isReadOnly": return false;
        case "isValid": case "getAutoCommit": return true;
        case "getTransactionIsolation": return Connection.TRANSACTION_READ_COMMITTED;
        case "getNetworkTimeout": return 0;
        case "hashCode": return System.identityHashCode(proxy);
        case "equals": return proxy == args[0];
        case "toString": return "StubConnection";
        default: return null;
      }
    };
    return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, h);
  }

  static DataSource stubDataSource() {
    InvocationHandler h = (proxy, method, args) -> {
      switch (method.getName()) {
        case "getConnection": return stubConnection();
        case "getLoginTimeout": return 0;
        case "hashCode": return System.identityHashCode(proxy);
        case "equals": return proxy == args[0];
        case "toString": return "StubDataSource";
        default: return null;
      }
    };
    return (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, h);
  }

  static double run(HikariDataSource ds, int threads, long millis) throws Exception {
    LongAdder cycles = new LongAdder();
    AtomicBoolean stop = new AtomicBoolean(false);
    Thread[] ts = new Thread[threads];
    for (int i = 0; i < threads; i++) {
      ts[i] = new Thread(() -> {
        long n = 0;
        try {
          while (!stop.get()) {
            Connection c = ds.getConnection();
            c.close();
            n++;
          }
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
        cycles.add(n);
      });
    }
    long t0 = System.nanoTime();
    for (Thread t : ts) t.start();
    Thread.sleep(millis);  // the measurement window of a benchmark, not a synchronisation
    stop.set(true);
    for (Thread t : ts) t.join();
    double seconds = (System.nanoTime() - t0) / 1e9;
    return cycles.sum() / seconds;
  }

  public static void main(String[] args) throws Exception {
    HikariConfig cfg = new HikariConfig();
    cfg.setDataSource(stubDataSource());
    cfg.setMaximumPoolSize(32);
    cfg.setMinimumIdle(32);
    cfg.setAutoCommit(true);
    try (HikariDataSource ds = new HikariDataSource(cfg)) {
      for (int threads : new int[] {1, 2, 8}) {
        run(ds, threads, 2000);  // warm-up (JIT)
        double rate = run(ds, threads, 3000);
        System.out.printf("{\"name\":\"hikaricp.acquire_release.threads%d\",\"value\":%.0f,\"unit\":\"cycles/s\"}%n", threads, rate);
        System.out.printf("{\"name\":\"hikaricp.acquire_release.threads%d.ns_per_cycle\",\"value\":%.1f,\"unit\":\"ns\"}%n", threads, 1e9 / rate);
      }
    }
  }
}
