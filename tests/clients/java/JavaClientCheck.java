// Apache Kafka's own Java client (kafka-clients) against a broker: one scenario per run.
//
// Usage: java -cp <kafka-clients and its jars>:<classes> JavaClientCheck BOOTSTRAP SCENARIO TOPIC [ARG]
// Scenarios: admin, produce-consume (ARG: compression type), consumer-protocol,
// transactions, records, admin-groups, admin-cluster, produce-through-restart (ARG: count;
// prints "ACKED n" as it goes, so that a test can restart the broker meanwhile),
// group-member (ARG: group id; a roundrobin member printing "ASSIGNED p,q" and
// "VALUE v" lines until its stdin closes), read-segments (TOPIC is a partition
// directory: Kafka's own FileRecords reads every .log file in it, checking CRCs),
// static-members (group.instance.id: a restarted static member rejoins without a rebalance). Every check that fails throws; the last line printed is
// "RESULT {json}" on success. tests/clients/test_java_client.py runs it.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaClientCheck {
    static String bootstrap;
    static final Map<String, Object> result = new TreeMap<>();

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        String scenario = args[1];
        String topic = args[2];
        String arg = args.length > 3 ? args[3] : null;
        switch (scenario) {
            case "admin" -> admin(topic);
            case "produce-consume" -> produceConsume(topic, arg == null ? "none" : arg, "classic");
            case "consumer-protocol" -> produceConsume(topic, "lz4", "consumer");
            case "transactions" -> transactions(topic);
            case "records" -> records(topic);
            case "admin-groups" -> adminGroups(topic);
            case "admin-cluster" -> adminCluster(topic);
            case "produce-through-restart" -> produceThroughRestart(topic, Integer.parseInt(arg));
            case "group-member" -> groupMember(topic, arg);
            case "read-segments" -> readSegments(topic);
            case "static-members" -> staticMembers(topic);
            default -> throw new IllegalArgumentException("unknown scenario " + scenario);
        }
        System.out.println("RESULT " + json(result));
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        return p;
    }

    static Admin admin() {
        return Admin.create(common());
    }

    static void createTopic(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    }

    // -- admin ---------------------------------------------------------------------------

    static void admin(String topic) throws Exception {
        try (Admin admin = admin()) {
            DescribeClusterResult cluster = admin.describeCluster();
            var nodes = cluster.nodes().get();
            check(nodes.size() == 1, "one node: " + nodes);
            int nodeId = nodes.iterator().next().id();
            check(cluster.controller().get() != null, "a controller");
            check(cluster.clusterId().get() != null, "a cluster id");

            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete")))).all().get();
            try {
                createTopic(admin, topic, 3);
                check(false, "creating an existing topic must fail");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof TopicExistsException, "TopicExistsException, got " + e.getCause());
            }
            check(admin.listTopics().names().get().contains(topic), "listTopics has the topic");

            TopicDescription desc = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            check(desc.partitions().size() == 3, "3 partitions: " + desc);
            for (var p : desc.partitions()) {
                check(p.leader().id() == nodeId, "leader is the node: " + p);
                check(p.isr().size() == 1 && p.replicas().size() == 1, "one replica in sync: " + p);
            }
            check(!desc.isInternal() && desc.topicId() != null, "a user topic with an id");

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(res)).all().get().get(res);
            ConfigEntry retention = config.get("retention.ms");
            check("3600000".equals(retention.value()), "retention.ms: " + retention);
            check(retention.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "source: " + retention);
            check(config.get("segment.bytes").source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                    "segment.bytes is a default");

            admin.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET))))
                    .all().get();
            config = admin.describeConfigs(List.of(res)).all().get().get(res);
            check("7200000".equals(config.get("retention.ms").value()), "altered retention.ms");

            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get();
            desc = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            check(desc.partitions().size() == 4, "4 partitions after createPartitions");

            // Some data for the offset and delete-records calls.
            try (KafkaProducer<String, String> producer = producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, "k", "v" + i)).get();
                }
            }
            TopicPartition tp0 = new TopicPartition(topic, 0);
            check(listOffset(admin, tp0, OffsetSpec.earliest()) == 0, "earliest 0");
            check(listOffset(admin, tp0, OffsetSpec.latest()) == 10, "latest 10");
            check(listOffset(admin, tp0, OffsetSpec.maxTimestamp()) == 9, "max timestamp at offset 9");
            var lowWatermark = admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(4)))
                    .lowWatermarks().get(tp0).get().lowWatermark();
            check(lowWatermark == 4, "deleteRecords low watermark 4, got " + lowWatermark);
            check(listOffset(admin, tp0, OffsetSpec.earliest()) == 4, "earliest 4 after deleteRecords");

            admin.deleteTopics(List.of(topic)).all().get();
            boolean gone = false;
            for (int i = 0; i < 50 && !gone; i++) {
                gone = !admin.listTopics().names().get().contains(topic);
                if (!gone) {
                    Thread.sleep(100);
                }
            }
            check(gone, "topic deleted");
            result.put("admin", "ok");
        }
    }

    static long listOffset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
        ListOffsetsResult.ListOffsetsResultInfo info = admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get();
        return info.offset();
    }

    // -- produce and consume -------------------------------------------------------------

    static KafkaProducer<String, String> producer(Map<String, String> extra) {
        Properties p = common();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.putAll(extra);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(Map<String, String> extra) {
        Properties p = common();
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.putAll(extra);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static void produceConsume(String topic, String compression, String groupProtocol) throws Exception {
        final int count = 3000;
        final int partitions = 3;
        try (Admin admin = admin()) {
            createTopic(admin, topic, partitions);
        }
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        try (KafkaProducer<String, String> producer = producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, compression,
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true"))) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, "key-" + (i % 50), "value-" + i)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) {
                RecordMetadata md = f.get();
                offsets.computeIfAbsent(md.partition(), k -> new ArrayList<>()).add(md.offset());
            }
        }
        for (var e : offsets.entrySet()) {
            List<Long> got = e.getValue();
            for (int i = 0; i < got.size(); i++) {
                check(got.get(i) == i, "partition " + e.getKey() + ": offsets 0.. in send order, got " + got.get(i) + " at " + i);
            }
        }
        check(offsets.values().stream().mapToInt(List::size).sum() == count, "every send acknowledged");

        String group = "java-" + groupProtocol + "-" + topic;
        Map<String, String> extra = new HashMap<>(Map.of(ConsumerConfig.GROUP_ID_CONFIG, group));
        extra.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, groupProtocol);
        Set<String> seen = new HashSet<>();
        Map<Integer, Long> next = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = consumer(extra)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (seen.size() < count && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : records) {
                    long expected = next.getOrDefault(r.partition(), 0L);
                    check(r.offset() == expected, "partition " + r.partition() + " in order: " + r.offset() + " != " + expected);
                    next.put(r.partition(), r.offset() + 1);
                    check(seen.add(r.value()), "no duplicate " + r.value());
                    check(r.key().equals("key-" + (Integer.parseInt(r.value().substring(6)) % 50)), "key matches value");
                }
            }
            check(seen.size() == count, "consumed all " + count + ", got " + seen.size());
            consumer.commitSync();
            Set<TopicPartition> assigned = consumer.assignment();
            check(assigned.size() == partitions, "all partitions assigned: " + assigned);
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
            Map<TopicPartition, Long> ends = consumer.endOffsets(assigned);
            for (TopicPartition tp : assigned) {
                check(committed.get(tp).offset() == ends.get(tp), "committed = end for " + tp);
            }
        }
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetAndMetadata> groupOffsets =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(groupOffsets.values().stream().mapToLong(OffsetAndMetadata::offset).sum() == count,
                    "group offsets add up to " + count + ": " + groupOffsets);
            ConsumerGroupDescription described = admin.describeConsumerGroups(List.of(group))
                    .describedGroups().get(group).get();
            result.put("group_state", described.groupState().toString());
            result.put("group_type", described.type().toString());
        }
        result.put("consumed", seen.size());
        result.put("partitions", offsets.size());
        result.put("compression", compression);
    }

    // -- transactions --------------------------------------------------------------------

    static void transactions(String topic) throws Exception {
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
        }
        String txnId = "java-txn-" + topic;
        String group = "java-txn-group-" + topic;
        KafkaProducer<String, String> producer = producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId));
        producer.initTransactions();
        producer.beginTransaction();
        for (int i = 0; i < 10; i++) {
            producer.send(new ProducerRecord<>(topic, i % 2, "k", "committed-" + i));
        }
        producer.commitTransaction();
        producer.beginTransaction();
        for (int i = 0; i < 10; i++) {
            producer.send(new ProducerRecord<>(topic, i % 2, "k", "aborted-" + i));
        }
        producer.flush();
        producer.abortTransaction();
        producer.beginTransaction();
        for (int i = 0; i < 5; i++) {
            producer.send(new ProducerRecord<>(topic, i % 2, "k", "second-" + i));
        }
        producer.sendOffsetsToTransaction(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(3)),
                new ConsumerGroupMetadata(group));
        producer.commitTransaction();

        // A second producer with the same transactional id fences the first.
        try (KafkaProducer<String, String> zombieKiller = producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId))) {
            zombieKiller.initTransactions();
            boolean fenced = false;
            try {
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, 0, "k", "zombie")).get();
                producer.commitTransaction();
            } catch (ProducerFencedException e) {
                fenced = true;
            } catch (ExecutionException e) {
                fenced = e.getCause() instanceof ProducerFencedException;
            } catch (org.apache.kafka.common.KafkaException e) {
                fenced = e instanceof ProducerFencedException || e.getCause() instanceof ProducerFencedException;
            }
            check(fenced, "the old producer is fenced");
            producer.close(Duration.ZERO);
            zombieKiller.beginTransaction();
            zombieKiller.send(new ProducerRecord<>(topic, 1, "k", "after-fence"));
            zombieKiller.commitTransaction();
        }

        List<String> committed = readAll(topic, "read_committed");
        List<String> uncommitted = readAll(topic, "read_uncommitted");
        check(committed.stream().noneMatch(v -> v.startsWith("aborted") || v.equals("zombie")),
                "read_committed skips aborted records: " + committed);
        check(committed.size() == 16, "10 + 5 + 1 committed records, got " + committed.size() + ": " + committed);
        check(uncommitted.size() >= 26, "read_uncommitted sees the aborted ones too: " + uncommitted.size());
        try (Admin admin = admin()) {
            var offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(offsets.get(new TopicPartition(topic, 0)).offset() == 3, "transactional offset commit: " + offsets);
            var txns = admin.listTransactions().all().get();
            check(txns.stream().anyMatch(t -> t.transactionalId().equals(txnId)), "listTransactions has " + txnId);
            var state = admin.describeTransactions(List.of(txnId)).description(txnId).get();
            result.put("txn_state", state.state().toString());
        }
        result.put("read_committed", committed.size());
        result.put("read_uncommitted", uncommitted.size());
    }

    static List<String> readAll(String topic, String isolation) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = consumer(Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation))) {
            List<TopicPartition> parts = consumer.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).collect(Collectors.toList());
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> ends = consumer.endOffsets(parts);
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
                boolean done = true;
                for (TopicPartition tp : parts) {
                    done &= consumer.position(tp) >= ends.get(tp);
                }
                if (done) {
                    break;
                }
            }
        }
        return values;
    }

    // -- records: headers, nulls, timestamps, limits ---------------------------------------

    static void records(String topic) throws Exception {
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 60_000;
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            var withHeaders = new ProducerRecord<>(topic, 0, base, "k1", "v1",
                    List.of(new org.apache.kafka.common.header.internals.RecordHeader("h1", "x".getBytes()),
                            new org.apache.kafka.common.header.internals.RecordHeader("h2", (byte[]) null)));
            producer.send(withHeaders).get();
            producer.send(new ProducerRecord<String, String>(topic, 0, base + 1000, null, "no-key")).get();
            producer.send(new ProducerRecord<String, String>(topic, 0, base + 2000, "tombstone", null)).get();
            producer.send(new ProducerRecord<>(topic, 0, base + 3000, "", "")).get();
            // One value over the broker's 1 MiB message.max.bytes, within the producer's limit.
            String big = "x".repeat(1_100_000);
            try (KafkaProducer<String, String> bigProducer = producer(Map.of(
                    ProducerConfig.MAX_REQUEST_SIZE_CONFIG, "2000000",
                    ProducerConfig.BATCH_SIZE_CONFIG, "16384"))) {
                try {
                    bigProducer.send(new ProducerRecord<>(topic, 0, "big", big)).get();
                    check(false, "a record over message.max.bytes must be refused");
                } catch (ExecutionException e) {
                    check(e.getCause() instanceof org.apache.kafka.common.errors.RecordTooLargeException,
                            "RecordTooLargeException, got " + e.getCause());
                }
            }
        }
        try (KafkaConsumer<String, String> consumer = consumer(Map.of())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 20_000;
            while (got.size() < 4 && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(got::add);
            }
            check(got.size() == 4, "4 records, got " + got.size());
            var h = got.get(0).headers();
            check(new String(h.lastHeader("h1").value()).equals("x") && h.lastHeader("h2").value() == null,
                    "headers round-trip: " + h);
            check(got.get(0).timestamp() == base, "CreateTime kept");
            check(got.get(1).key() == null && got.get(1).value().equals("no-key"), "null key");
            check(got.get(2).key().equals("tombstone") && got.get(2).value() == null, "null value");
            check(got.get(3).key().isEmpty() && got.get(3).value().isEmpty(), "empty key and value");

            var byTime = consumer.offsetsForTimes(Map.of(tp, base + 1500));
            check(byTime.get(tp).offset() == 2 && byTime.get(tp).timestamp() == base + 2000,
                    "offsetsForTimes: first record at or after the time: " + byTime);
            var future = consumer.offsetsForTimes(Map.of(tp, System.currentTimeMillis() + 3_600_000));
            check(future.get(tp) == null, "no record after a future time: " + future);
            consumer.seek(tp, 1);
            List<ConsumerRecord<String, String>> again = new ArrayList<>();
            deadline = System.currentTimeMillis() + 10_000;
            while (again.isEmpty() && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(again::add);
            }
            check(!again.isEmpty() && again.get(0).offset() == 1, "seek(1) reads from offset 1");
            result.put("records", got.size());
        }
    }

    // -- admin: groups -----------------------------------------------------------------------

    static void adminGroups(String topic) throws Exception {
        String group = "java-admin-group-" + topic;
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
            try (KafkaProducer<String, String> producer = producer(Map.of())) {
                for (int i = 0; i < 20; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 2, "k", "v" + i));
                }
                producer.flush();
            }
            TopicPartition tp0 = new TopicPartition(topic, 0);
            TopicPartition tp1 = new TopicPartition(topic, 1);
            admin.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(4, "meta"),
                    tp1, new OffsetAndMetadata(6))).all().get();
            var offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(offsets.get(tp0).offset() == 4 && "meta".equals(offsets.get(tp0).metadata()), "altered offsets: " + offsets);
            check(offsets.get(tp1).offset() == 6, "altered offsets: " + offsets);
            var listed = admin.listConsumerGroups().all().get();
            check(listed.stream().anyMatch(g -> g.groupId().equals(group)), "listConsumerGroups has the group");

            // A member resumes from the altered offsets.
            try (KafkaConsumer<String, String> consumer = consumer(Map.of(ConsumerConfig.GROUP_ID_CONFIG, group))) {
                consumer.subscribe(List.of(topic));
                int n = 0;
                long deadline = System.currentTimeMillis() + 30_000;
                while (n < 10 && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        check(r.offset() >= (r.partition() == 0 ? 4 : 6), "resumed at the committed offset: " + r);
                        n++;
                    }
                }
                check(n == 10, "read the 10 records past the committed offsets, got " + n);
                var described = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
                check(described.members().size() == 1, "one member while it runs: " + described);
                try {
                    admin.deleteConsumerGroups(List.of(group)).all().get();
                    check(false, "deleting a group with a member must fail");
                } catch (ExecutionException e) {
                    check(e.getCause() instanceof org.apache.kafka.common.errors.GroupNotEmptyException,
                            "GroupNotEmptyException, got " + e.getCause());
                }
            }
            admin.deleteConsumerGroupOffsets(group, Set.of(tp0)).all().get();
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(!offsets.containsKey(tp0) && offsets.containsKey(tp1), "offset of partition 0 deleted: " + offsets);
            admin.deleteConsumerGroups(List.of(group)).all().get();
            try {
                admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
                // Kafka answers a deleted classic group as Dead with no members.
                var dead = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
                result.put("deleted_group_state", dead.groupState().toString());
            } catch (ExecutionException e) {
                result.put("deleted_group_state", e.getCause().getClass().getSimpleName());
            }
            result.put("groups", "ok");
        }
    }

    // -- admin: cluster-level APIs a PLAINTEXT broker without an authorizer answers ---------

    static void adminCluster(String topic) throws Exception {
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            int node = admin.describeCluster().nodes().get().iterator().next().id();
            var dirs = admin.describeLogDirs(List.of(node)).allDescriptions().get().get(node);
            check(!dirs.isEmpty(), "describeLogDirs lists the data dir");
            boolean found = dirs.values().stream().anyMatch(d -> d.replicaInfos().containsKey(new TopicPartition(topic, 0)));
            check(found, "describeLogDirs has the partition");
            var features = admin.describeFeatures().featureMetadata().get();
            result.put("features", features.finalizedFeatures().keySet().stream().sorted().collect(Collectors.joining(",")));
            try {
                admin.describeAcls(org.apache.kafka.common.acl.AclBindingFilter.ANY).values().get();
                check(false, "describeAcls without an authorizer must fail");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof org.apache.kafka.common.errors.SecurityDisabledException,
                        "SecurityDisabledException, got " + e.getCause());
            }
            ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(node));
            Config brokerConfig = admin.describeConfigs(List.of(brokerRes)).all().get().get(brokerRes);
            check(brokerConfig.get("log.retention.hours") != null, "broker configs described");
            var producers = admin.describeProducers(List.of(new TopicPartition(topic, 0))).all().get();
            check(producers.get(new TopicPartition(topic, 0)).activeProducers().isEmpty(), "no producers yet");
            var reassignments = admin.listPartitionReassignments().reassignments().get();
            check(reassignments.isEmpty(), "no reassignments");
            result.put("cluster", "ok");
        }
    }

    // -- the idempotent producer across a broker restart ---------------------------------------

    static void produceThroughRestart(String topic, int count) throws Exception {
        try (Admin admin = admin()) {
            createTopic(admin, topic, 2);
        }
        Set<Integer> acked = ConcurrentHashMap.newKeySet();
        AtomicInteger failed = new AtomicInteger();
        AtomicReference<Exception> firstError = new AtomicReference<>();
        try (KafkaProducer<String, String> producer = producer(Map.of(
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000",
                ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "100",
                ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500"))) {
            for (int i = 0; i < count; i++) {
                final int n = i;
                producer.send(new ProducerRecord<>(topic, "k" + (i % 10), "m-" + i), (md, e) -> {
                    if (e == null) {
                        acked.add(n);
                    } else {
                        failed.incrementAndGet();
                        firstError.compareAndSet(null, e);
                    }
                });
                if (i % 200 == 199) {
                    Thread.sleep(25);
                    System.out.println("ACKED " + acked.size());
                    System.out.flush();
                }
            }
            producer.flush();
        }
        check(firstError.get() == null, "every send acknowledged, first error: " + firstError.get());
        Map<String, Integer> stored = new HashMap<>();
        for (String value : readAll(topic, "read_uncommitted")) {
            stored.merge(value, 1, Integer::sum);
        }
        int duplicates = stored.values().stream().mapToInt(c -> c - 1).sum();
        long missing = acked.stream().filter(n -> !stored.containsKey("m-" + n)).count();
        result.put("acked", acked.size());
        result.put("failed", failed.get());
        result.put("duplicates", duplicates);
        result.put("missing", missing);
    }

    // -- a long-running group member, for groups mixing client libraries -------------------

    static void groupMember(String topic, String group) throws Exception {
        Map<String, String> extra = new HashMap<>();
        extra.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        extra.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                org.apache.kafka.clients.consumer.RoundRobinAssignor.class.getName());
        extra.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        extra.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "300");
        extra.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
        KafkaConsumer<String, String> consumer = consumer(extra);
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // Anything on stdin is ignored: only its end stops the member.
                }
            } catch (java.io.IOException e) {
                // Treated as the end of stdin.
            }
            consumer.wakeup();
        });
        watcher.setDaemon(true);
        watcher.start();
        int consumed = 0;
        try {
            consumer.subscribe(List.of(topic), new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                }

                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    String owned = consumer.assignment().stream().map(TopicPartition::partition).sorted()
                            .map(String::valueOf).collect(Collectors.joining(","));
                    System.out.println("ASSIGNED " + owned);
                    System.out.flush();
                }
            });
            while (true) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                    System.out.println("VALUE " + r.value());
                    consumed++;
                }
                System.out.flush();
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // stdin closed: leave the group.
        } finally {
            consumer.close();
        }
        result.put("consumed", consumed);
    }

    // -- the broker's segment files, read by Kafka's own record classes --------------------

    static void readSegments(String partitionDir) throws Exception {
        java.io.File[] logs = new java.io.File(partitionDir).listFiles((dir, name) -> name.endsWith(".log"));
        check(logs != null && logs.length > 0, "segment files in " + partitionDir);
        java.util.Arrays.sort(logs);
        long expectedOffset = -1;
        int batches = 0, records = 0, controlBatches = 0, transactional = 0;
        Set<String> codecs = new java.util.TreeSet<>();
        for (java.io.File file : logs) {
            long base = Long.parseLong(file.getName().substring(0, 20));
            try (org.apache.kafka.common.record.internal.FileRecords fileRecords =
                         org.apache.kafka.common.record.internal.FileRecords.open(file, false)) {
                for (var batch : fileRecords.batches()) {
                    batch.ensureValid();  // size, magic and CRC-32C, as Kafka's log validation does
                    check(batch.magic() == 2, "magic 2");
                    check(batch.baseOffset() >= base, "batch in the segment named for its base offset");
                    check(expectedOffset < 0 || batch.baseOffset() >= expectedOffset, "offsets only grow");
                    expectedOffset = batch.lastOffset() + 1;
                    batches++;
                    codecs.add(batch.compressionType().name);
                    if (batch.isControlBatch()) {
                        controlBatches++;
                    }
                    if (batch.isTransactional()) {
                        transactional++;
                    }
                    try (var it = batch.streamingIterator(org.apache.kafka.common.utils.BufferSupplier.NO_CACHING)) {
                        while (it.hasNext()) {
                            var record = it.next();
                            record.ensureValid();
                            check(record.offset() >= batch.baseOffset() && record.offset() <= batch.lastOffset(),
                                    "record offset inside its batch");
                            records++;
                        }
                    }
                }
            }
        }
        result.put("batches", batches);
        result.put("records", records);
        result.put("control_batches", controlBatches);
        result.put("transactional_batches", transactional);
        result.put("codecs", String.join(",", codecs));
        result.put("next_offset", expectedOffset);
    }

    // -- static membership (KIP-345) -----------------------------------------------------------

    static KafkaConsumer<String, String> staticMember(String topic, String group, String instance) {
        Map<String, String> extra = new HashMap<>();
        extra.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        extra.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance);
        extra.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "30000");
        extra.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "300");
        extra.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                org.apache.kafka.clients.consumer.RangeAssignor.class.getName());
        KafkaConsumer<String, String> consumer = consumer(extra);
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    static void pollUntil(List<KafkaConsumer<String, String>> consumers, java.util.function.BooleanSupplier done,
                          String what) {
        long deadline = System.currentTimeMillis() + 60_000;
        while (!done.getAsBoolean()) {
            check(System.currentTimeMillis() < deadline, "timed out waiting for " + what);
            for (KafkaConsumer<String, String> c : consumers) {
                c.poll(Duration.ofMillis(50));
            }
        }
    }

    static void staticMembers(String topic) throws Exception {
        String group = "java-static-" + topic;
        try (Admin admin = admin()) {
            createTopic(admin, topic, 4);
        }
        KafkaConsumer<String, String> a = staticMember(topic, group, "instance-a");
        KafkaConsumer<String, String> b = staticMember(topic, group, "instance-b");
        pollUntil(List.of(a, b), () -> a.assignment().size() == 2 && b.assignment().size() == 2
                && a.groupMetadata().generationId() == b.groupMetadata().generationId(), "both static members assigned");
        int generation = b.groupMetadata().generationId();
        Set<TopicPartition> ownedByA = new HashSet<>(a.assignment());
        // A static member leaves without LeaveGroup on close: the coordinator keeps its
        // place for session.timeout.ms, and the same instance id takes it back.
        a.close();
        KafkaConsumer<String, String> again = staticMember(topic, group, "instance-a");
        pollUntil(List.of(again, b), () -> again.assignment().size() == 2, "the restarted member assigned");
        check(again.assignment().equals(ownedByA), "the same partitions back: " + again.assignment() + " vs " + ownedByA);
        check(b.groupMetadata().generationId() == generation, "no rebalance for the other member: generation "
                + b.groupMetadata().generationId() + " vs " + generation);
        try (Admin admin = admin()) {
            var described = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
            Set<String> instances = described.members().stream()
                    .map(m -> m.groupInstanceId().orElse("")).collect(Collectors.toCollection(java.util.TreeSet::new));
            result.put("instances", String.join(",", instances));
        }
        again.close();
        b.close();
        result.put("generation_kept", generation);
    }

    // -- output --------------------------------------------------------------------------

    static String json(Map<String, Object> map) {
        return map.entrySet().stream()
                .map(e -> "\"" + e.getKey() + "\": " + (e.getValue() instanceof Number
                        ? e.getValue().toString() : "\"" + e.getValue() + "\""))
                .collect(Collectors.joining(", ", "{", "}"));
    }
}
