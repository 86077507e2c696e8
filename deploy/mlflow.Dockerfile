# The MLflow server of deploy/compose.yaml: the MLflow release this project is tested with, and psycopg 3 for PostgreSQL.
FROM python:3.11-slim
RUN pip install --no-cache-dir "mlflow==3.17.2" "psycopg[binary]>=3.2,<4"
EXPOSE 5000
