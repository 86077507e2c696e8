package mirador.churn;

import ai.onnxruntime.OrtException;

import io.modelcontextprotocol.json.jackson3.JacksonMcpJsonMapper;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpStatelessServerFeatures;
import io.modelcontextprotocol.server.McpStatelessSyncServer;
import io.modelcontextprotocol.spec.McpSchema;

import org.springframework.ai.mcp.server.webmvc.transport.WebMvcStatelessServerTransport;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The MCP tool predict_churn, with the name, description, schemas and errors of churn_serve's. */
@Configuration
public class McpTools {
    static final String ERROR = "Error executing tool predict_churn: ";

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    /**
     * The tool's definition, built from the served model's feature names as churn_serve builds it.
     */
    static McpSchema.Tool definition(List<String> features, int maxRows) {
        Map<String, Object> in =
                map(
                        "properties",
                        map(
                                "rows",
                                map(
                                        "items",
                                        rowSchema(features),
                                        "maxItems",
                                        maxRows,
                                        "minItems",
                                        1,
                                        "title",
                                        "Rows",
                                        "type",
                                        "array")),
                        "required",
                        List.of("rows"),
                        "type",
                        "object",
                        "title",
                        "predict_churnArguments");
        Map<String, Object> out =
                map(
                        "properties",
                        map(
                                "model_version",
                                map("title", "Model Version", "type", "string"),
                                "probabilities",
                                map(
                                        "items",
                                        map("type", "number"),
                                        "title",
                                        "Probabilities",
                                        "type",
                                        "array")),
                        "required",
                        List.of("model_version", "probabilities"),
                        "type",
                        "object",
                        "description",
                        "What `predict_churn` returns: the version of the model that scored, and"
                            + " one probability per row",
                        "title",
                        "ChurnPrediction");
        return McpSchema.Tool.builder()
                .name("predict_churn")
                .description(
                        "Churn probability (0-1, of no order in the label window) of each row; a"
                            + " row is an object of the "
                                + features.size()
                                + " features "
                                + String.join(", ", features))
                .inputSchema(in)
                .outputSchema(out)
                .build();
    }

    /**
     * A list: the stateless server autoconfiguration streams the beans of type List of tool
     * specifications.
     */
    /**
     * JSON Schema of one row: every feature a finite float32 number, the e-mail class one of its
     * classes (serve.row_schema).
     */
    static Map<String, Object> rowSchema(List<String> features) {
        Map<String, Object> props = new LinkedHashMap<>();
        for (String f : features) {
            double[] classes = Rows.CLASS_FEATURES.get(f);
            props.put(
                    f,
                    classes != null
                            ? map(
                                    "enum",
                                    java.util.Arrays.stream(classes)
                                            .mapToObj(c -> (int) c)
                                            .toList(),
                                    "type",
                                    "number")
                            : map(
                                    "maximum",
                                    Rows.F32_MAX,
                                    "minimum",
                                    -Rows.F32_MAX,
                                    "type",
                                    "number"));
        }
        return map(
                "additionalProperties",
                false,
                "properties",
                props,
                "required",
                features,
                "type",
                "object");
    }

    /**
     * Spring AI's stateless streamable-HTTP transport for Spring MVC, at /mcp (JSON answers, no
     * event stream).
     */
    @Bean
    public WebMvcStatelessServerTransport churnMcpTransport() {
        return WebMvcStatelessServerTransport.builder()
                .jsonMapper(new JacksonMcpJsonMapper(JsonMapper.builder().build()))
                .messageEndpoint("/mcp")
                .build();
    }

    @Bean
    public RouterFunction<ServerResponse> churnMcpRoutes(WebMvcStatelessServerTransport transport) {
        return transport.getRouterFunction();
    }

    /**
     * The stateless MCP server, built here rather than by Spring AI's autoconfiguration: the SDK's
     * own input validation would answer a bad row in its words, and the contract is churn_serve's
     * (row and field named).
     */
    @Bean
    public McpStatelessSyncServer churnMcpServer(
            WebMvcStatelessServerTransport transport, ChurnState state, ChurnMetrics metrics) {
        McpStatelessServerFeatures.SyncToolSpecification predict =
                McpStatelessServerFeatures.SyncToolSpecification.builder()
                        .tool(definition(state.model.current().model().features, state.maxRows))
                        .callHandler((ctx, req) -> call(state, metrics, req.arguments()))
                        .build();
        return McpServer.sync(transport)
                .serverInfo("mirador-churn", "0.1.0")
                .instructions("Churn risk of shop customers: score feature rows.")
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
                .tools(predict)
                .validateToolInputs(false)
                .immediateExecution(true)
                .build();
    }

    static McpSchema.CallToolResult call(
            ChurnState state, ChurnMetrics metrics, Map<String, Object> args) {
        Object rows = args == null ? null : args.get("rows");
        if (args == null || !args.containsKey("rows"))
            return error("1 validation error for predict_churnArguments\nrows\n  Field required");
        if (!(rows instanceof List<?> list))
            return error(
                    "1 validation error for predict_churnArguments\n"
                        + "rows\n"
                        + "  Input should be a valid list");
        for (int i = 0; i < list.size(); i++)
            if (!(list.get(i) instanceof Map))
                return error(
                        "1 validation error for predict_churnArguments\nrows."
                                + i
                                + "\n  Input should be a valid dictionary");
        try {
            JsonNode node = ChurnController.JSON.valueToTree(rows);
            Map<String, Object> result = ChurnController.predictRows(state, metrics, node, "mcp");
            return McpSchema.CallToolResult.builder()
                    .structuredContent(result)
                    .addTextContent(
                            ChurnController.JSON
                                    .writerWithDefaultPrettyPrinter()
                                    .writeValueAsString(result))
                    .isError(false)
                    .build();
        } catch (RequestException e) {
            return error(e.getMessage());
        } catch (OrtException | ServeException e) {
            return error(ChurnModel.firstLine(e.getMessage()));
        }
    }

    static McpSchema.CallToolResult error(String message) {
        return McpSchema.CallToolResult.builder()
                .addTextContent(ERROR + message)
                .isError(true)
                .build();
    }
}
