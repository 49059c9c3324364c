// Readiness probe for the local Kafka broker when no Python kafka client is available.
// Run with the JDK's source launcher: java -cp "<libs>/*" KafkaPing.java 127.0.0.1:9092
// Exits 0 when the broker answers a list-topics request.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaPing {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(props)) {
            admin.listTopics().names().get(5, TimeUnit.SECONDS);
        }
    }
}
